"""Checkpoints that survive a kill, and ``--resume`` that survives a bad one.

mmengine 0.10.7 loses a run that is killed while it saves a checkpoint:

* ``save_checkpoint`` (through ``LocalBackend.put``) writes the file under
  its final name, so a kill leaves a truncated ``epoch_N.pth``;
* ``CheckpointHook`` with ``max_keep_ckpts`` removes the oldest kept
  checkpoint *before* it saves the new one: with ``max_keep_ckpts=1`` a kill
  during the save leaves no usable checkpoint at all;
* it rewrites ``work_dir/last_checkpoint`` in place;
* ``--resume`` (auto) loads whatever ``last_checkpoint`` names, and a
  truncated file fails with torch's ``PytorchStreamReader failed reading zip
  archive: failed finding central directory``, which names no file.

:func:`install_crash_safe_checkpoints` makes every local checkpoint and
``last_checkpoint`` appear whole or not at all (written to ``<name>.tmp``,
flushed to disk, then renamed over the final name), makes ``CheckpointHook``
remove old checkpoints only after the new one and ``last_checkpoint`` are
written, and makes auto-resume check the checkpoint it picks: a missing,
truncated or damaged one is named in a warning and the newest intact
checkpoint of the folder is resumed from instead. Resuming from an explicit
``--resume <file>`` that is damaged raises an error naming the file.
"""
import contextlib
import functools
import logging
import os
import os.path as osp
import zipfile
from typing import IO, Iterator, List, Optional, Tuple
from unittest import mock

import mmengine.runner
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook
from mmengine.hooks import checkpoint_hook as checkpoint_hook_module
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmengine.runner import checkpoint as checkpoint_module
from mmengine.runner import runner as runner_module

__all__ = [
    'atomic_write', 'checkpoint_problem', 'find_intact_checkpoint',
    'install_crash_safe_checkpoints'
]

TEMPORARY_SUFFIX = '.tmp'
_ZIP_MAGIC = b'PK\x03\x04'  # torch.save's default format is a zip archive


@contextlib.contextmanager
def _replaced_when_done(path: str) -> Iterator[str]:
    """Yield a temporary name beside ``path``. When the block ends, the file
    written there is flushed to disk and renamed over ``path``; if the block
    raises, it is removed and ``path`` stays as it was."""
    temporary = path + TEMPORARY_SUFFIX
    try:
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'w', **kwargs) -> Iterator[IO]:
    """Open ``path`` for writing so that it appears whole or not at all.

    The data goes to ``<path>.tmp``, which is flushed to disk and renamed
    over ``path`` when the block ends; if the block raises, the temporary
    file is removed and ``path`` is left as it was.

    Args:
        path (str): The file to write.
        mode (str): ``'w'`` or ``'wb'``. Defaults to ``'w'``.
        **kwargs: Passed to :func:`open` (``encoding`` ...).

    Yields:
        file: The temporary file, open in ``mode``.
    """
    with _replaced_when_done(path) as temporary, \
            open(temporary, mode, **kwargs) as f:
        yield f


def _open_writes_atomically(file, mode='r', *args, **kwargs):
    """``open`` for ``mmengine.hooks.checkpoint_hook``, which opens only
    ``last_checkpoint``, to write it: writes go through
    :func:`atomic_write`."""
    if mode in ('w', 'wb') and not args:
        return atomic_write(file, mode, **kwargs)
    return open(file, mode, *args, **kwargs)


def _is_local(filename: str, backend_args: Optional[dict]) -> bool:
    if filename.startswith('pavi://'):
        return False
    try:
        backend = get_file_backend(filename, backend_args=backend_args)
    except ValueError:  # a prefix no backend claims (open-mmlab://, ...)
        return False
    return isinstance(backend, LocalBackend)


def _atomic_save_checkpoint(save_checkpoint):

    @functools.wraps(save_checkpoint)
    def save(checkpoint, filename, file_client_args=None, backend_args=None):
        if file_client_args is not None or not _is_local(
                str(filename), backend_args):
            return save_checkpoint(
                checkpoint,
                filename,
                file_client_args=file_client_args,
                backend_args=backend_args)
        with _replaced_when_done(str(filename)) as temporary:
            save_checkpoint(checkpoint, temporary, backend_args=backend_args)

    save.__csn_patched__ = True
    return save


class _DeferredRemoval:
    """Stands in for a ``CheckpointHook``'s file backend while it saves:
    removals wait until the save is done. Everything else is the backend's.
    """

    def __init__(self, backend) -> None:
        self._backend = backend
        self.pending: List[Tuple[str, str]] = []

    def remove(self, path: str) -> None:
        self.pending.append(('remove', path))

    def rmtree(self, path: str) -> None:
        self.pending.append(('rmtree', path))

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


def _paths_in_use(hook: CheckpointHook) -> set:
    """The checkpoints the hook points at after a save, never removed."""
    in_use = {getattr(hook, 'last_ckpt', None),
              getattr(hook, 'best_ckpt_path', None)}
    in_use.update(getattr(hook, 'best_ckpt_path_dict', {}).values())
    return in_use


def _remove_after_saving(save_method):

    @functools.wraps(save_method)
    def save(self, runner, *args, **kwargs):
        backend = self.file_backend
        deferred = _DeferredRemoval(backend)
        self.file_backend = deferred
        try:
            with mock.patch.object(checkpoint_hook_module, 'open',
                                   _open_writes_atomically, create=True):
                result = save_method(self, runner, *args, **kwargs)
        finally:
            self.file_backend = backend
        in_use = _paths_in_use(self)
        for operation, path in deferred.pending:
            if path not in in_use:
                getattr(backend, operation)(path)
        return result

    save.__csn_patched__ = True
    return save


def checkpoint_problem(path: str) -> Optional[str]:
    """What makes a local checkpoint unusable, or ``None``.

    A zip checkpoint (torch's default format) must be a complete archive
    whose entries pass their CRC check; that reads the whole file. Files in
    other formats are left to ``torch.load``.

    Args:
        path (str): The checkpoint file.

    Returns:
        str | None: ``'it does not exist'``, ``'it is empty'``, ``'it is
        truncated or damaged ...'``, or ``None`` when it looks intact.
    """
    if not osp.isfile(path):
        return 'it does not exist'
    if osp.getsize(path) == 0:
        return 'it is empty'
    with open(path, 'rb') as f:
        if f.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
            return None
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return (f'it is truncated or damaged ({err}): a run killed while '
                'saving it?')
    if damaged is not None:
        return f'it is damaged: its entry {damaged} fails its CRC check'
    return None


def _candidates(folders: List[str]) -> List[str]:
    """Checkpoints a run can resume from in ``folders``, newest first:
    ``*.pth`` files but the ``best_*`` ones, saved without optimizer."""
    found = set()
    for folder in folders:
        if osp.isdir(folder):
            found.update(
                osp.join(folder, name) for name in os.listdir(folder)
                if name.endswith('.pth') and not name.startswith('best_'))
    return sorted(found, key=lambda p: (osp.getmtime(p), p), reverse=True)


def find_intact_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint an automatic ``--resume`` should resume from.

    The one ``work_dir/last_checkpoint`` names if it is intact (see
    :func:`checkpoint_problem`); otherwise, with a warning that names the
    bad file, the newest intact ``*.pth`` in its folder or ``work_dir``
    (``best_*`` checkpoints left out). ``None`` when there is no
    ``last_checkpoint`` and no checkpoint, as in mmengine (a fresh start).

    Args:
        work_dir (str): The run's work folder.

    Returns:
        str | None: The checkpoint to resume from.

    Raises:
        FileNotFoundError: There are checkpoints, but none is intact.
    """
    save_file = osp.join(work_dir, 'last_checkpoint')
    recorded = None
    if osp.isfile(save_file):
        with open(save_file) as f:
            recorded = f.read().strip() or None
    if recorded is not None and not _is_local(recorded, None):
        return recorded  # remote storage: left to mmengine
    bad = []
    if recorded is not None:
        problem = checkpoint_problem(recorded)
        if problem is None:
            return recorded
        bad.append(f'{recorded}: {problem}')
    elif osp.isfile(save_file):
        bad.append(f'{save_file}: it is empty')
    folders = [work_dir] + ([osp.dirname(recorded)] if recorded else [])
    for candidate in _candidates(folders):
        if candidate == recorded:
            continue
        problem = checkpoint_problem(candidate)
        if problem is not None:
            bad.append(f'{candidate}: {problem}')
            continue
        if not bad:
            bad.append(f'{save_file}: it does not exist')
        print_log(
            'Auto-resume: not resuming from ' + '; '.join(bad) +
            f'. Resuming from {candidate} instead, the newest intact '
            'checkpoint.',
            logger='current',
            level=logging.WARNING)
        return candidate
    if bad:
        raise FileNotFoundError(
            f'Auto-resume found no intact checkpoint in {work_dir}:\n  ' +
            '\n  '.join(bad) + '\nStart the run again without --resume, or '
            'pass a checkpoint with --resume <file>.')
    print_log('Did not find last_checkpoint to be resumed.', logger='current')
    return None


def _checked_resume(resume):

    @functools.wraps(resume)
    def checked(self, filename, *args, **kwargs):
        if isinstance(filename, str) and _is_local(filename, None):
            problem = checkpoint_problem(filename)
            if problem is not None:
                raise ValueError(
                    f'cannot resume from {filename}: {problem}. '
                    '--resume without a file name resumes from the newest '
                    'intact checkpoint of the work folder.')
        return resume(self, filename, *args, **kwargs)

    checked.__csn_patched__ = True
    return checked


def install_crash_safe_checkpoints() -> List[str]:
    """Install the fixes above; safe to call more than once.

    Returns:
        list[str]: What was patched now (empty when already done).
    """
    patched = []
    for module in (checkpoint_module, runner_module, mmengine.runner):
        save = module.save_checkpoint
        if not getattr(save, '__csn_patched__', False):
            module.save_checkpoint = _atomic_save_checkpoint(save)
            patched.append(f'{module.__name__}.save_checkpoint')
        if module.find_latest_checkpoint is not find_intact_checkpoint:
            module.find_latest_checkpoint = find_intact_checkpoint
            patched.append(f'{module.__name__}.find_latest_checkpoint')
    for name in ('_save_checkpoint_with_step', '_save_best_checkpoint'):
        method = getattr(CheckpointHook, name)
        if not getattr(method, '__csn_patched__', False):
            setattr(CheckpointHook, name, _remove_after_saving(method))
            patched.append(f'CheckpointHook.{name}')
    if not getattr(Runner.resume, '__csn_patched__', False):
        Runner.resume = _checked_resume(Runner.resume)
        patched.append('Runner.resume')
    return patched

