"""Reading source files safely, with errors that name the file.

- Caffe2 ``.pkl``: a restricted unpickler that allows numpy arrays and plain
  containers only (never ``pickle.load``).
- PyTorch checkpoints: ``torch.load(weights_only=True)``.

A file that cannot be read says what it looks like instead (truncated, a
zip archive, a pickle, empty) and which converter fits it.
"""
import codecs
import collections
import os.path as osp
import pickle
import re

import numpy as np
import torch

try:  # numpy >= 2 moved numpy.core to numpy._core
    from numpy._core import multiarray, numeric
except ImportError:  # pragma: no cover (numpy < 2)
    from numpy.core import multiarray, numeric

__all__ = [
    'ConversionError', 'load_pickle', 'load_torch', 'split_state_dict',
    'guess_format', 'require_keys', 'unknown_layout'
]


class ConversionError(ValueError):
    """A source that cannot be converted; the message names the file and,
    where there is one, the key."""


#: The only globals a Caffe2 ``.pkl`` may name: numpy's array and scalar
#: rebuilders (under numpy 1 and 2 names), dtypes, ``_codecs.encode`` (how
#: Python 3 pickles bytes at protocol 2) and OrderedDict. Nothing that runs
#: code or reaches other objects.
PICKLE_GLOBALS = {
    **{(f'{package}.multiarray', name): getattr(multiarray, name)
       for package in ('numpy.core', 'numpy._core')
       for name in ('_reconstruct', 'scalar')},
    **{(f'{package}.numeric', '_frombuffer'): numeric._frombuffer
       for package in ('numpy.core', 'numpy._core')},
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    ('_codecs', 'encode'): codecs.encode,
    ('collections', 'OrderedDict'): collections.OrderedDict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays in plain containers, refuses anything else.

    ``encoding='latin1'`` reads the byte strings of Python 2 pickles (VMZ
    wrote its ``.pkl`` files with Python 2's cPickle) as numpy expects.
    """

    def __init__(self, file, path):
        super().__init__(file, encoding='latin1')
        self.path = path

    def find_class(self, module, name):
        try:
            return PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise ConversionError(
                f'{self.path}: refused to unpickle {module}.{name}: a VMZ '
                f'Caffe2 .pkl holds only numpy arrays in plain containers, '
                f'and nothing else is loaded from it') from None

    def persistent_load(self, pid):
        raise ConversionError(
            f'{self.path}: refused a persistent id in the pickle: a VMZ '
            f'Caffe2 .pkl holds only numpy arrays in plain containers')


def describe_file(path):
    """What a file's first bytes say it is, for error messages."""
    with open(path, 'rb') as f:
        head = f.read(4)
    if not head:
        return 'an empty file'
    if head.startswith(b'PK\x03\x04'):
        return 'a zip archive, the format torch.save writes'
    if head[0] == 0x80:
        return 'a pickle'
    return f'neither a pickle nor a zip archive (it starts with {head!r})'


def _check_file(path):
    if not osp.isfile(path):
        raise ConversionError(f'{path}: no such file')


def _error_detail(error):
    """The telling line of a parse error: what torch's weights-only
    loading refused, or the first line."""
    text = str(error)
    refused = re.search(r'Unsupported global: GLOBAL (\S+)', text)
    if refused:
        return (f'weights-only loading refused {refused.group(1)}, which '
                f'a checkpoint of tensors does not hold')
    refused = re.search(r'WeightsUnpickler error:\s*(.+?)(\n\n|$)', text,
                        re.S)
    if refused:
        return f'weights-only loading refused it: {refused.group(1).strip()}'
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else ''


def _read_error(path, error, hint):
    """A ConversionError for a file that could not be parsed."""
    kind = describe_file(path)
    detail = _error_detail(error)
    truncated = isinstance(error, EOFError) or any(
        word in str(error) for word in ('truncated', 'central directory',
                                        'Ran out of input', 'unexpected EOF'))
    if kind == 'an empty file':
        why = 'it is an empty file'
    elif truncated:
        why = 'it ends early: truncated (an interrupted download?)'
    else:
        why = f'it is {kind}'
    return ConversionError(f'{path}: cannot read it ({type(error).__name__}: '
                           f'{detail}); {why}. {hint}'.rstrip())


def load_pickle(path):
    """Load a Caffe2 ``.pkl`` through :class:`_RestrictedUnpickler`.

    Raises:
        ConversionError: The file is missing, truncated, not a pickle, or
            names a global outside :data:`PICKLE_GLOBALS`.
    """
    _check_file(path)
    kind = describe_file(path)
    if kind.startswith('a zip archive'):  # 'PK' would parse as opcodes
        raise ConversionError(
            f"{path}: not a pickle: it is {kind}. For a PyTorch checkpoint "
            f"use the 'vmz' or 'pytorchvideo' converter.")
    try:
        with open(path, 'rb') as f:
            return _RestrictedUnpickler(f, path).load()
    except ConversionError:
        raise
    except Exception as error:  # any parse failure is a format error
        raise _read_error(path, error, '') from error


def load_torch(path, safe_globals=()):
    """``torch.load(path, weights_only=True)`` on the CPU.

    Args:
        path (str): The checkpoint.
        safe_globals (Sequence): Types allowed besides torch's own
            weights-only set (e.g. ``argparse.Namespace`` for VMZ's training
            checkpoints).

    Raises:
        ConversionError: The file is missing, truncated, not a PyTorch
            checkpoint, or pickles objects weights-only loading refuses.
    """
    _check_file(path)
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # any parse failure is a format error
        hint = ''
        if describe_file(path) == 'a pickle':
            hint = ("A plain pickle is not torch.save's format: for a VMZ "
                    "Caffe2 .pkl use the 'vmz-caffe2' converter.")
        raise _read_error(path, error, hint) from error


def split_state_dict(path, data, wrapper):
    """The tensors of a checkpoint that is a state dict or holds one under
    ``wrapper``, and the names of its other entries (reported unused)."""
    if not isinstance(data, dict):
        raise ConversionError(
            f'{path}: holds a {type(data).__name__}, not a state dict')
    other = []
    if isinstance(data.get(wrapper), dict):
        other = [f'{key} (top-level entry)' for key in data if key != wrapper]
        data = data[wrapper]
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    other += [k for k in data if k not in tensors]
    return tensors, other


#: A key each format has, to tell the user which converter fits a file
FORMAT_MARKERS = (
    ('vmz-caffe2', 'conv1_spatbn_relu_s'),
    ('vmz', 'stem.0.weight'),
    ('pytorchvideo', 'blocks.0.conv.weight'),
    ('an MMAction2 checkpoint, which needs no conversion',
     'backbone.conv1.conv.weight'),
)


def guess_format(keys):
    """The format whose marker key is in ``keys``, or None."""
    for name, marker in FORMAT_MARKERS:
        if marker in keys:
            return name
    return None


def require_keys(path, keys, wanted):
    """Raise :func:`unknown_layout` for the first ``(key, what has it)`` of
    ``wanted`` missing from ``keys``."""
    for key, what in wanted:
        if key not in keys:
            raise unknown_layout(path, key, keys, what)


def unknown_layout(path, expected, keys, what):
    """ConversionError for a source that lacks ``expected``."""
    guess = guess_format(keys)
    hint = ''
    if guess and guess.startswith('an MMAction2'):
        hint = f' It looks like {guess}.'
    elif guess:
        hint = f" Its keys look like the '{guess}' format."
    sample = ', '.join(sorted(keys)[:5]) or 'none'
    return ConversionError(
        f'{path}: unknown layout: no {expected!r}, which {what} has.{hint} '
        f'Keys include: {sample}')
