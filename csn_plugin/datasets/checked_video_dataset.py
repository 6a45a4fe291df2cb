"""A ``VideoDataset`` that checks its list file and handles corrupt videos."""
import logging
import multiprocessing
import os.path as osp
from typing import Callable, List, Optional, Tuple, Union

from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from mmengine.fileio import exists, list_from_file
from mmengine.logging import print_log

from .transforms import CorruptVideoError

__all__ = ['CheckedVideoDataset']

ON_CORRUPT_OPTIONS = ('raise', 'skip')
_MAX_LISTED_MISSING = 10


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


@DATASETS.register_module()
class CheckedVideoDataset(VideoDataset):
    """``VideoDataset`` that validates its list file when it loads it and can
    skip corrupt videos.

    The list file has MMAction2's video-list format, one
    ``<video path><delimiter><label>`` per line (``<label>...`` with
    ``multi_class``); blank lines are ignored. At load time:

    - a malformed line (wrong number of fields, a label that is not an
      integer, negative or not below ``num_classes``) raises ``ValueError``
      reading ``"<ann_file>:<line number>: '<line>' -> <problem>"``;
    - a line without a label is accepted only with ``test_mode=True``
      (inference lists), where it gets label -1 as in ``VideoDataset``;
    - listed videos that do not exist raise ``FileNotFoundError`` naming
      each path with its list line (up to 10 of them, and the count);
    - an empty list raises ``ValueError``.

    At loading time, a :class:`~csn_plugin.datasets.CorruptVideoError` from
    the pipeline (``CheckedDecordInit``/``CheckedDecordDecode``) is raised
    (``on_corrupt='raise'``) or the sample is replaced by a random other one
    (``on_corrupt='skip'``, training only). Each skip logs a warning naming
    the file and the number of skips so far; :attr:`num_skipped` holds that
    number across DataLoader workers, and ``SkippedVideosHook`` logs it at
    the end of every epoch. After ``max_refetch`` skips in a row the dataset
    gives up with an error.

    Args:
        ann_file (str): Path to the list file.
        pipeline (list[dict | callable]): Data transforms.
        on_corrupt (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.
            ``'skip'`` needs ``test_mode=False``: at test time every listed
            video has to be scored.
        check_files (bool): Check at load time that every listed video
            exists. Defaults to True; turn it off for a remote storage
            where checking each file is slow.
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
                 check_files: bool = True,
                 test_mode: bool = False,
                 **kwargs) -> None:
        if on_corrupt not in ON_CORRUPT_OPTIONS:
            raise ValueError(f'on_corrupt must be one of '
                             f'{ON_CORRUPT_OPTIONS}, got {on_corrupt!r}')
        if kwargs.get('multi_class') and kwargs.get('num_classes') is None:
            raise ValueError('multi_class=True needs num_classes')
        if on_corrupt == 'skip' and test_mode:
            raise ValueError(
                f"on_corrupt='skip' is for training only; with "
                f'test_mode=True every video in {ann_file} must be scored. '
                f'Remove the corrupt videos from the list instead.')
        self.on_corrupt = on_corrupt
        self.check_files = check_files
        self._num_skipped = _SharedCount()
        super().__init__(ann_file, pipeline, test_mode=test_mode, **kwargs)

    @property
    def num_skipped(self) -> int:
        """How many samples were skipped because their video is corrupt, in
        this process and its DataLoader workers together."""
        return self._num_skipped.value

    def _parse_line(self, line: str,
                    where: str) -> Tuple[str, Union[int, List[int]]]:
        """Split one list line into its video path and label(s)."""

        def malformed(problem: str) -> ValueError:
            return ValueError(f'{where}: {line!r} -> {problem}')

        fields = line.strip().split(self.delimiter)
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
            if value < 0 or (self.num_classes is not None
                             and value >= self.num_classes):
                upper = ('' if self.num_classes is None else
                         f' and below num_classes={self.num_classes}')
                raise malformed(f'label {value} is not >= 0{upper}')
        return filename, (values if self.multi_class else values[0])

    def load_data_list(self) -> List[dict]:
        """Read and check the list file."""
        if not exists(self.ann_file):
            raise FileNotFoundError(f'list file not found: {self.ann_file}')
        prefix: Optional[str] = self.data_prefix['video']
        data_list, missing = [], []
        for lineno, line in enumerate(list_from_file(self.ann_file), 1):
            if not line.strip():
                continue
            where = f'{self.ann_file}:{lineno}'
            filename, label = self._parse_line(line, where)
            if prefix is not None:
                filename = osp.join(prefix, filename)
            if self.check_files and not exists(filename):
                missing.append(f'  {where}: {line!r} -> {filename}')
            data_list.append(dict(filename=filename, label=label))
        if missing:
            more = len(missing) - _MAX_LISTED_MISSING
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} videos listed in '
                f'{self.ann_file} do not exist (data_prefix={prefix!r}):\n' +
                '\n'.join(missing[:_MAX_LISTED_MISSING]) +
                (f'\n  ... and {more} more' if more > 0 else ''))
        if not data_list:
            raise ValueError(f'{self.ann_file} lists no videos')
        return data_list

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on sample ``idx``; ``None`` (mmengine's "fetch
        another one") for a corrupt video when ``on_corrupt='skip'``."""
        try:
            return super().prepare_data(idx)
        except CorruptVideoError as err:
            if self.on_corrupt == 'raise':
                raise
            count = self._num_skipped.increment()
            print_log(
                f"{err}. Skipped (on_corrupt='skip'): training on another "
                f'sample instead; {count} sample(s) skipped so far.',
                logger='current',
                level=logging.WARNING)
            return None
