"""A ``VideoDataset`` that checks its list file and handles corrupt videos."""
import logging
import multiprocessing
import os.path as osp
import unicodedata
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from mmengine.fileio import exists
from mmengine.logging import print_log

from .list_file import read_list_file
from .model_classes import model_num_classes
from .transforms import CorruptVideoError

__all__ = ['CheckedVideoDataset', 'TooManyCorruptVideosError']

ON_CORRUPT_OPTIONS = ('raise', 'skip')
# How many missing, duplicate or corrupt videos an error lists by name.
_MAX_LISTED = 10


class TooManyCorruptVideosError(RuntimeError):
    """More of a training list's videos are corrupt than its
    ``max_skip_ratio`` allows, or ``max_refetch + 1`` videos picked in a row
    to replace a corrupt one were corrupt too."""


class _SharedCount:
    """A count shared by a dataset and its DataLoader worker processes.

    Workers get a copy of the dataset, so a plain attribute would count in
    each worker apart and stay 0 in the main process, where hooks read it.
    """

    def __init__(self) -> None:
        # A lock made in the 'fork' context cannot be sent to 'spawn'
        # workers; one made in the 'spawn' context serves every start method.
        self._value = multiprocessing.get_context('spawn').Value('q', 0)

    @property
    def value(self) -> int:
        return self._value.value

    def increment(self) -> int:
        """Add one; return the new count."""
        with self._value.get_lock():
            self._value.value += 1
            return self._value.value

    def __deepcopy__(self, memo: dict) -> '_SharedCount':
        # BaseDataset.get_subset deep-copies the dataset; the copy counts on.
        return self


class _SharedFlags:
    """One flag per list entry, shared as :class:`_SharedCount` is: which
    videos were found corrupt, by any process."""

    def __init__(self, size: int) -> None:
        # One byte each, so that setting a flag needs no lock.
        self._flags = multiprocessing.get_context('spawn').RawArray('B', size)

    def __len__(self) -> int:
        return len(self._flags)

    def set(self, index: int) -> None:
        self._flags[index] = 1

    def indices(self) -> np.ndarray:
        """The flagged indices, in order."""
        return np.flatnonzero(np.frombuffer(self._flags, dtype=np.uint8))

    def __deepcopy__(self, memo: dict) -> '_SharedFlags':
        # A copy (BaseDataset.get_subset) may index other entries: it starts
        # with flags of its own.
        return _SharedFlags(len(self))


def _character_problem(text: str, delimiter: str) -> Optional[str]:
    """A control character or BOM inside a (stripped) list line: what it is
    and where, or ``None``."""
    for column, char in enumerate(text, 1):
        if char == delimiter:
            continue
        if char == '\t':
            return (f'a tab at column {column}, but fields are separated by '
                    f"{delimiter!r}; set delimiter='\\t' for a "
                    'tab-separated list')
        if char == '\ufeff':
            return (f'a byte-order mark (U+FEFF) at column {column}: a file '
                    'pasted into the list with its BOM?')
        if unicodedata.category(char) == 'Cc':
            return f'the control character {char!r} at column {column}'
    return None


def _listed(items: List[str]) -> str:
    """The first :data:`_MAX_LISTED` of ``items``, one per line, and how
    many more there are."""
    more = len(items) - _MAX_LISTED
    return '\n'.join(f'  {item}' for item in items[:_MAX_LISTED]) + (
        f'\n  ... and {more} more' if more > 0 else '')


@DATASETS.register_module()
class CheckedVideoDataset(VideoDataset):
    """``VideoDataset`` that validates its list file when it loads it and can
    skip corrupt videos, up to a limit.

    The list file has MMAction2's video-list format, one
    ``<video path><delimiter><label>`` per line (``<label>...`` with
    ``multi_class``); blank lines and whitespace around a line are ignored.
    At load time:

    - a malformed line raises ``ValueError`` reading
      ``"<ann_file>:<line number>: '<line>' -> <problem>"``. Malformed
      means: no label (accepted only with ``test_mode=True``, for inference
      lists, where the label is -1 as in ``VideoDataset``), more fields than
      ``<path> <label>``, a label that is not an integer, negative, or not
      below ``num_classes`` or the class count of the model (see below),
      a tab when the delimiter is not one, a control character or a
      byte-order mark inside the line;
    - a file that is not valid ``encoding`` text raises ``ValueError``
      naming the line, column and byte; a UTF-8 byte-order mark at the start
      of the file is dropped with a warning;
    - a video listed twice with different labels raises ``ValueError``
      naming both lines; listed twice with the same label, it raises
      ``ValueError`` listing the repeats, unless ``allow_duplicates=True``,
      which keeps every entry and logs one warning with their count;
    - listed videos that do not exist raise ``FileNotFoundError`` naming
      each path with its list line (up to 10 of them, and the count);
    - an empty list raises ``ValueError``.

    The model's class count: when mmengine's Runner builds the dataset
    (``mim train``/``mim test``, either package's tools), labels are also
    checked against ``model.cls_head.num_classes`` of the runner's model,
    whether or not ``num_classes`` is set here
    (:mod:`csn_plugin.datasets.model_classes`).

    At loading time, a :class:`~csn_plugin.datasets.CorruptVideoError` from
    the pipeline (``CheckedDecordInit``/``CheckedDecordDecode``) is raised
    (``on_corrupt='raise'``) or the sample is replaced by a random other one
    (``on_corrupt='skip'``, training only). Each skip logs a warning naming
    the file and the counts so far; :attr:`num_skipped` holds the number of
    skipped samples across DataLoader workers, and ``SkippedVideosHook``
    logs it at the end of every epoch. Once more than ``max_skip_ratio`` of
    the listed videos have been found corrupt, or when ``max_refetch + 1``
    videos picked in a row are corrupt, loading stops with
    :class:`TooManyCorruptVideosError`, naming the list, the counts and the
    first corrupt videos.

    Args:
        ann_file (str): Path to the list file.
        pipeline (list[dict | callable]): Data transforms.
        on_corrupt (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.
            ``'skip'`` needs ``test_mode=False``: at test time every listed
            video has to be scored.
        max_skip_ratio (float): With ``on_corrupt='skip'``, the largest
            fraction of the listed videos that may be corrupt, in [0, 1].
            Defaults to 0.05.
        check_files (bool): Check at load time that every listed video
            exists. Defaults to True; turn it off for a remote storage
            where checking each file is slow.
        allow_duplicates (bool): Keep videos listed more than once (with the
            same label) instead of raising. Defaults to False.
        encoding (str): Text encoding of the list file. Defaults to
            ``'utf-8'``.
        test_mode (bool): Whether this is a val/test dataset.
            Defaults to False.
        **kwargs: The other arguments of ``VideoDataset`` (``data_prefix``,
            ``multi_class``, ``num_classes``, ``start_index``, ``modality``,
            ``delimiter``) and of mmengine's ``BaseDataset``
            (``max_refetch``, ``lazy_init`` ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 on_corrupt: str = 'raise',
                 max_skip_ratio: float = 0.05,
                 check_files: bool = True,
                 allow_duplicates: bool = False,
                 encoding: str = 'utf-8',
                 test_mode: bool = False,
                 **kwargs) -> None:
        if on_corrupt not in ON_CORRUPT_OPTIONS:
            raise ValueError(f'on_corrupt must be one of '
                             f'{ON_CORRUPT_OPTIONS}, got {on_corrupt!r}')
        if not (isinstance(max_skip_ratio, (int, float))
                and 0 <= max_skip_ratio <= 1):
            raise ValueError(f'max_skip_ratio must be a number in [0, 1], '
                             f'got {max_skip_ratio!r}')
        if kwargs.get('multi_class') and kwargs.get('num_classes') is None:
            raise ValueError('multi_class=True needs num_classes')
        if on_corrupt == 'skip' and test_mode:
            raise ValueError(
                f"on_corrupt='skip' is for training only; with "
                f'test_mode=True every video in {ann_file} must be scored. '
                f'Remove the corrupt videos from the list instead.')
        self.model_num_classes = model_num_classes()
        if (kwargs.get('multi_class') and self.model_num_classes is not None
                and kwargs['num_classes'] != self.model_num_classes):
            raise ValueError(
                f'num_classes={kwargs["num_classes"]} for the multi-class '
                f'list {ann_file}, but the model has '
                f'{self.model_num_classes} classes (model.cls_head.'
                f'num_classes): the one-hot labels would not fit its scores')
        self.on_corrupt = on_corrupt
        self.max_skip_ratio = max_skip_ratio
        self.check_files = check_files
        self.allow_duplicates = allow_duplicates
        self.encoding = encoding
        self._num_skipped = _SharedCount()
        self._corrupt: Optional[_SharedFlags] = None
        super().__init__(ann_file, pipeline, test_mode=test_mode, **kwargs)

    @property
    def num_skipped(self) -> int:
        """How many samples were skipped because their video is corrupt, in
        this process and its DataLoader workers together."""
        return self._num_skipped.value

    @property
    def corrupt_videos(self) -> List[str]:
        """The listed videos found corrupt so far (``on_corrupt='skip'``),
        in this process and its DataLoader workers together, in list
        order."""
        if self._corrupt is None:
            return []
        return [
            self.get_data_info(int(i))['filename']
            for i in self._corrupt.indices()
        ]

    @property
    def num_corrupt(self) -> int:
        """How many of the listed videos were found corrupt so far."""
        return 0 if self._corrupt is None else len(self._corrupt.indices())

    def _label_problem(self, value: int) -> Optional[str]:
        limits = {
            name: limit
            for name, limit in (('num_classes', self.num_classes),
                                ('model.cls_head.num_classes',
                                 self.model_num_classes))
            if limit is not None
        }
        if not limits:
            return f'label {value} is negative' if value < 0 else None
        upper = min(limits.values())
        if 0 <= value < upper:
            return None
        return (f'label {value} is outside [0, {upper}) (' +
                ', '.join(f'{name}={limit}'
                          for name, limit in limits.items()) + ')')

    def _parse_line(self, line: str,
                    where: str) -> Tuple[str, Union[int, List[int]]]:
        """Split one list line into its video path and label(s)."""

        def malformed(problem: str) -> ValueError:
            return ValueError(f'{where}: {line!r} -> {problem}')

        text = line.strip()
        problem = _character_problem(text, self.delimiter)
        if problem:
            raise malformed(f'contains {problem}')
        fields = text.split(self.delimiter)
        filename, labels = fields[0], fields[1:]
        if not labels:
            if self.test_mode and not self.multi_class:
                return filename, -1
            raise malformed(f'no label; expected "<video path>'
                            f'{self.delimiter}<label>"')
        if len(labels) > 1 and not self.multi_class:
            raise malformed(
                f'{len(fields)} fields separated by {self.delimiter!r}; '
                f'expected "<video path>{self.delimiter}<label>" '
                f'(multi_class=False)')
        try:
            values = [int(label) for label in labels]
        except ValueError:
            raise malformed(f'labels must be integers, got {labels}') \
                from None
        for value in values:
            problem = self._label_problem(value)
            if problem:
                raise malformed(problem)
        return filename, (values if self.multi_class else values[0])

    def load_data_list(self) -> List[dict]:
        """Read and check the list file."""
        if not exists(self.ann_file):
            raise FileNotFoundError(f'list file not found: {self.ann_file}')
        prefix: Optional[str] = self.data_prefix['video']
        data_list, missing, repeats = [], [], []
        first_seen: Dict[str, Tuple[int, Union[int, List[int]]]] = {}
        for lineno, line in read_list_file(self.ann_file, self.encoding):
            if not line.strip():
                continue
            where = f'{self.ann_file}:{lineno}'
            filename, label = self._parse_line(line, where)
            if prefix is not None:
                filename = osp.join(prefix, filename)
            key = osp.normpath(filename)
            if key in first_seen:
                first_line, first_label = first_seen[key]
                if label != first_label:
                    raise ValueError(
                        f'{where}: {line!r} -> {filename} has label {label} '
                        f'here and {first_label} on line {first_line}')
                repeats.append(f'{where}: {line!r} repeats line '
                               f'{first_line}')
            else:
                first_seen[key] = (lineno, label)
            if self.check_files and not exists(filename):
                missing.append(f'{where}: {line!r} -> {filename}')
            data_list.append(dict(filename=filename, label=label))
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} videos listed in '
                f'{self.ann_file} do not exist (data_prefix={prefix!r}):\n' +
                _listed(missing))
        if not data_list:
            raise ValueError(f'{self.ann_file} lists no videos')
        if repeats and not self.allow_duplicates:
            raise ValueError(
                f'{len(repeats)} line(s) of {self.ann_file} repeat a video '
                'listed before, which would count it more than once:\n' +
                _listed(repeats) + '\nRemove the repeats, or set '
                'allow_duplicates=True to train on the list as it is.')
        if repeats:
            print_log(
                f'{self.ann_file}: {len(repeats)} of {len(data_list)} lines '
                f'repeat a video listed before; kept '
                f'(allow_duplicates=True). The first: {repeats[0]}',
                logger='current',
                level=logging.WARNING)
        return data_list

    def full_init(self) -> None:
        """Load the list (unless done) and make the corrupt-video flags,
        which the DataLoader workers share."""
        super().full_init()
        if self._corrupt is None or len(self._corrupt) != len(self):
            self._corrupt = _SharedFlags(len(self))

    def _corrupt_report(self, what: str) -> str:
        bad = self.corrupt_videos
        return (f'{what}: {len(bad)} of the {len(self)} videos listed in '
                f'{self.ann_file} were found corrupt so far '
                f'({self.num_skipped} sample(s) skipped). Remove them from '
                f'the list (or raise max_skip_ratio). Corrupt videos:\n' +
                _listed(bad))

    def _skip_corrupt(self, idx: int, err: CorruptVideoError) -> None:
        """Count, flag and report a corrupt video; stop past the limit."""
        count = self._num_skipped.increment()
        self._corrupt.set(idx)
        num_corrupt = self.num_corrupt
        limit = int(self.max_skip_ratio * len(self))
        print_log(
            f"{err}. Skipped (on_corrupt='skip'): training on another "
            f'sample instead; {count} sample(s) skipped so far, '
            f'{num_corrupt} of {len(self)} listed videos corrupt '
            f'(max_skip_ratio={self.max_skip_ratio} allows {limit}).',
            logger='current',
            level=logging.WARNING)
        if num_corrupt > limit:
            raise TooManyCorruptVideosError(
                self._corrupt_report(
                    f'more of the list is corrupt than max_skip_ratio='
                    f'{self.max_skip_ratio} allows ({limit} of {len(self)} '
                    'videos)'))

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on sample ``idx``; with ``on_corrupt='skip'``,
        on a random other sample when its video is corrupt."""
        if self.on_corrupt == 'raise':
            return super().prepare_data(idx)
        # Replacements are drawn as mmengine's refetch draws them (numpy's
        # global generator), so that a seeded run picks the same ones again.
        for _ in range(self.max_refetch + 1):
            try:
                return super().prepare_data(idx)
            except CorruptVideoError as err:
                self._skip_corrupt(idx, err)
                idx = self._rand_another()
        raise TooManyCorruptVideosError(
            self._corrupt_report(
                f'{self.max_refetch + 1} videos picked in a row were '
                f'corrupt (max_refetch={self.max_refetch})'))
