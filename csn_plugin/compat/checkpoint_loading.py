"""Load MMEngine's own checkpoints while ``torch.load`` stays weights-only.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``. MMEngine
0.10.7 calls ``torch.load`` without that argument, and the checkpoints its
Runner saves pickle more than tensors (open-mmlab/mmengine#1655; upstream's
fix, open-mmlab/mmengine#1670, is not in a release and turns weights_only
off):

* ``message_hub`` holds :class:`mmengine.logging.HistoryBuffer` objects. Each
  keeps numpy arrays and, through ``__getstate__``, the class's statistics
  methods, which pickle as ``getattr(HistoryBuffer, 'mean')`` and so on.
* ``message_hub`` runtime info (``eta``, ``val/...``, ``best_score``) and
  ``meta`` hold numpy scalars: a metric's ``np.float64``, for instance.

So torch refuses every ``resume`` and every ``load_from`` of such a file.

:func:`install_checkpoint_allowlist` wraps
``mmengine.runner.CheckpointLoader.load_checkpoint``, through which
``Runner.resume``, ``Runner.load_checkpoint`` (``load_from``) and
``mmengine.runner.load_checkpoint`` load every scheme (local path, URL,
``open-mmlab://``, ...). Inside the wrapper, and only there, torch's
``safe_globals`` context allows :data:`MMENGINE_CHECKPOINT_GLOBALS`; torch's
process-wide default stays as it is. A checkpoint that pickles anything else
is refused with an error naming the file and the offending global.

``builtins.getattr`` is not allowed as such: given any allowed object it
reaches functions' ``__globals__`` and from there everything. The pickle's
``builtins.getattr`` resolves to :func:`history_buffer_statistic` instead,
which returns only HistoryBuffer's four built-in statistics methods.
"""
import functools
import os.path as osp
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

try:  # numpy >= 2 moved numpy.core to numpy._core
    from numpy._core import multiarray
except ImportError:  # pragma: no cover (numpy < 2)
    from numpy.core import multiarray

__all__ = [
    'MMENGINE_CHECKPOINT_GLOBALS', 'history_buffer_statistic',
    'install_checkpoint_allowlist'
]

# The methods ``HistoryBuffer._set_default_statistics`` registers.
HISTORY_BUFFER_STATISTICS = ('current', 'max', 'mean', 'min')

# numpy scalars and arrays in checkpoints are logged values and metrics:
# plain booleans and numbers. Object, string and structured dtypes stay out.
NUMERIC_DTYPES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8',
                  'uint16', 'uint32', 'uint64', 'float16', 'float32',
                  'float64')


def history_buffer_statistic(owner, name):
    """Stand in for ``builtins.getattr`` while a checkpoint unpickles.

    ``HistoryBuffer.__getstate__`` saves the statistics methods, which pickle
    as ``getattr(HistoryBuffer, name)``. Only those lookups are answered.

    Args:
        owner: The object the pickle looks the attribute up on.
        name (str): The attribute's name.

    Returns:
        Callable: ``HistoryBuffer.<name>``.
    """
    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({owner!r}, {name!r}) is not allowed: only HistoryBuffer\'s '
        f'statistics methods {HISTORY_BUFFER_STATISTICS} may be looked up')


def _numpy_rebuilders():
    """``_reconstruct`` (arrays) and ``scalar`` under both numpy 1 and 2
    names, so that checkpoints saved under either version load."""
    return [(getattr(multiarray, name), f'{module}.multiarray.{name}')
            for name in ('_reconstruct', 'scalar')
            for module in ('numpy.core', 'numpy._core')]


MMENGINE_CHECKPOINT_GLOBALS = [
    HistoryBuffer,
    (history_buffer_statistic, 'builtins.getattr'),
    np.ndarray,
    np.dtype,
    *[type(np.dtype(name)) for name in NUMERIC_DTYPES],
    *_numpy_rebuilders(),
]


def _missing_allowlist():
    """The allow-list entries that torch does not already hold.

    ``safe_globals`` removes its entries on exit, so entries the user added
    with ``add_safe_globals`` themselves must not go through it.
    """
    present = torch.serialization.get_safe_globals()
    return [g for g in MMENGINE_CHECKPOINT_GLOBALS if g not in present]


def _refusal_message(filename, error):
    """Name the file and what torch refused to unpickle in it."""
    offending = []
    filename = osp.expanduser(filename)
    if osp.isfile(filename):
        try:
            offending = sorted(
                torch.serialization.get_unsafe_globals_in_checkpoint(filename))
        except (RuntimeError, ValueError):  # not a zip checkpoint
            pass
    if offending:
        what = (f'it pickles {", ".join(offending)}, which MMEngine '
                'checkpoints do not hold')
    else:  # torch's own reason, e.g. a type built without being allowed
        reason = str(error).split('WeightsUnpickler error:')[-1].strip()
        what = 'torch\'s weights-only unpickler refused it: ' + (
            reason.splitlines()[0] if reason else repr(error))
    return (
        f'Refused to load checkpoint {filename}: {what}. csn_plugin keeps '
        'torch.load(weights_only=True) and allows only the types MMEngine\'s '
        'Runner saves (csn_plugin.compat.checkpoint_loading.'
        'MMENGINE_CHECKPOINT_GLOBALS). If you trust this file, load it with '
        'torch.load(..., weights_only=False) and save its state_dict, or '
        'allow the type with torch.serialization.add_safe_globals.')


def install_checkpoint_allowlist():
    """Make ``CheckpointLoader.load_checkpoint`` allow MMEngine's types.

    Idempotent. Does nothing on torch < 2.5, which has no ``safe_globals``
    (and before 2.6 ``torch.load`` is not weights-only by default).

    Returns:
        bool: Whether the wrapper is in place.
    """
    if not hasattr(torch.serialization, 'safe_globals'):
        return False
    load = CheckpointLoader.__dict__['load_checkpoint'].__func__
    if getattr(load, '__csn_allowlist__', False):
        return True

    @functools.wraps(load)
    def load_checkpoint(cls, filename, map_location=None, logger='current'):
        with torch.serialization.safe_globals(_missing_allowlist()):
            try:
                return load(cls, filename, map_location, logger)
            except pickle.UnpicklingError as error:
                raise pickle.UnpicklingError(
                    _refusal_message(filename, error)) from error

    load_checkpoint.__csn_allowlist__ = True
    CheckpointLoader.load_checkpoint = classmethod(load_checkpoint)
    return True
