"""MMEngine Runner checkpoints load with torch.load(weights_only=True) kept on.

A toy model trains for two iterations with mmengine's real Runner (SGD with
momentum, two parameter schedulers, a validation metric that returns numpy
scalars, ``save_best``), and the checkpoints it saves are then resumed from,
loaded with ``load_from``, and tampered with.
"""
import io
import os
import os.path as osp
import pickle
import re
import zipfile

import numpy as np
import pytest
import toy_runner
import torch
from mmengine.runner import CheckpointLoader, load_checkpoint
from toy_runner import ToyModel

import csn_plugin  # noqa: F401  (installs the allow-list)
from csn_plugin.compat.checkpoint_loading import (MMENGINE_CHECKPOINT_GLOBALS,
                                                  install_checkpoint_allowlist)

TRAIN_ITERS = 2


class Foreign:
    """Stands for any object a checkpoint should not carry."""


class RunsShell:
    """Unpickles as ``os.system('true')``."""

    def __reduce__(self):
        return os.system, ('true', )


class ReachesInit:
    """Unpickles as ``getattr(HistoryBuffer, '__init__')``."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return getattr, (HistoryBuffer, '__init__')


def build_runner(work_dir, name, max_iters=TRAIN_ITERS, **kwargs):
    return toy_runner.build_runner(
        work_dir,
        name,
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=1),
        checkpoint=dict(
            type='CheckpointHook',
            interval=1,
            by_epoch=False,
            save_best='err',
            rule='less'),
        **kwargs)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Checkpoints saved by a real Runner, and the weights it trained."""
    work_dir = tmp_path_factory.mktemp('trained')
    runner = build_runner(work_dir, f'{work_dir.name}-train')
    runner.train()
    runner.save_checkpoint(
        str(work_dir),
        'weights_only.pth',
        save_optimizer=False,
        save_param_scheduler=False)
    runner.save_checkpoint(
        str(work_dir),
        'numpy_meta.pth',
        meta=dict(
            scale=np.float32(0.5),
            steps=np.arange(3),
            flags=np.array([True, False]),
            pixels=np.uint8(255)))
    weights = {k: v.clone() for k, v in runner.model.state_dict().items()}
    return work_dir, weights


def name_of(cls_or_func):
    return f'{cls_or_func.__module__}.{cls_or_func.__qualname__}'


def test_runner_checkpoint_needs_exactly_the_allow_list(trained):
    work_dir, _ = trained
    # The globals outside torch's defaults, as numpy 2 names them.
    expected = {
        'builtins.getattr', 'mmengine.logging.history_buffer.HistoryBuffer',
        'numpy.dtype', 'numpy.ndarray', 'numpy._core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar'
    }
    ckpt = str(work_dir / f'iter_{TRAIN_ITERS}.pth')
    found = {
        g.replace('numpy.core.', 'numpy._core.')
        for g in torch.serialization.get_unsafe_globals_in_checkpoint(ckpt)
    }
    assert found == expected
    # Torch's own default is untouched: a plain torch.load still refuses.
    with pytest.raises(pickle.UnpicklingError, match='Weights only'):
        torch.load(ckpt)


@pytest.mark.parametrize(
    'filename',
    [f'iter_{TRAIN_ITERS}.pth', 'weights_only.pth', 'numpy_meta.pth'])
def test_runner_checkpoints_load(trained, filename):
    work_dir, weights = trained
    ckpt = CheckpointLoader.load_checkpoint(
        str(work_dir / filename), map_location='cpu', logger='silent')
    assert ckpt['meta']['iter'] == TRAIN_ITERS
    assert ckpt['message_hub']['log_scalars']['train/loss'].data[0].size
    for key, value in weights.items():
        torch.testing.assert_close(ckpt['state_dict'][key], value)
    assert ('optimizer' in ckpt) == (filename != 'weights_only.pth')
    if filename == 'numpy_meta.pth':
        assert ckpt['meta']['scale'] == np.float32(0.5)
        assert ckpt['meta']['steps'].tolist() == [0, 1, 2]
        assert ckpt['meta']['flags'].dtype == np.bool_


def test_resume(trained, tmp_path):
    work_dir, weights = trained
    path = str(work_dir / f'iter_{TRAIN_ITERS}.pth')
    saved = CheckpointLoader.load_checkpoint(path, logger='silent')
    runner = build_runner(
        tmp_path,
        f'{tmp_path.name}-resume',
        max_iters=TRAIN_ITERS + 1,
        resume=True,
        load_from=path)
    runner.load_or_resume()
    assert runner.iter == TRAIN_ITERS
    for key, value in weights.items():
        torch.testing.assert_close(runner.model.state_dict()[key], value)
    optimizer = runner.optim_wrapper.optimizer.state_dict()
    assert optimizer['state'], 'momentum buffers were not restored'
    torch.testing.assert_close(optimizer['state'],
                               saved['optimizer']['state'])
    assert [s.state_dict() for s in runner.param_schedulers
            ] == saved['param_schedulers']
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == TRAIN_ITERS
    runner.train()
    assert runner.iter == TRAIN_ITERS + 1
    assert len(runner.message_hub.get_scalar('train/loss').data[0]) == (
        TRAIN_ITERS + 1)


def test_load_from(trained, tmp_path):
    work_dir, weights = trained
    runner = build_runner(
        tmp_path,
        f'{tmp_path.name}-load',
        load_from=str(work_dir / 'numpy_meta.pth'))
    runner.load_or_resume()
    assert runner.iter == 0  # load_from restores weights only
    for key, value in weights.items():
        torch.testing.assert_close(runner.model.state_dict()[key], value)


def tampered(trained, tmp_path, payload):
    """A copy of the Runner's checkpoint with ``payload`` in its meta."""
    work_dir, _ = trained
    ckpt = CheckpointLoader.load_checkpoint(
        str(work_dir / f'iter_{TRAIN_ITERS}.pth'), logger='silent')
    ckpt['meta']['extra'] = payload
    path = tmp_path / 'tampered.pth'
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize(
    'payload, offending',
    [(Foreign(), re.escape(name_of(Foreign))),
     (RunsShell(), re.escape(f'{os.system.__module__}.system')),
     (ReachesInit(), r"getattr\(.*HistoryBuffer.*'__init__'\) is not allowed"),
     (np.array(['a', 'b'], dtype=object), 'ObjectDType')])
def test_foreign_object_refused(trained, tmp_path, payload, offending):
    path = tampered(trained, tmp_path, payload)
    runner = build_runner(
        tmp_path, f'{tmp_path.name}-refuse', load_from=str(path))
    with pytest.raises(pickle.UnpicklingError) as info:
        runner.load_or_resume()
    message = str(info.value)
    assert f'Refused to load checkpoint {path}' in message
    assert re.search(offending, message), message
    # torch.load of the file directly refuses as well.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_allow_list_is_scoped_to_mmengine_loading(trained, tmp_path):
    work_dir, _ = trained
    user_global = np.ndarray
    torch_own = torch.serialization.get_safe_globals()
    torch.serialization.add_safe_globals([user_global])
    try:
        load_checkpoint(
            ToyModel(), str(work_dir / 'numpy_meta.pth'), logger='silent')
        safe = torch.serialization.get_safe_globals()
        # The user's own entry survives; the others were only lent.
        assert user_global in safe
        assert not [
            g for g in MMENGINE_CHECKPOINT_GLOBALS
            if g is not user_global and g in safe
        ]
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(torch_own)


def test_numpy1_checkpoint_loads(trained, tmp_path):
    """Checkpoints saved under numpy 1 name ``numpy.core.multiarray``."""
    work_dir, _ = trained
    source = zipfile.ZipFile(work_dir / f'iter_{TRAIN_ITERS}.pth')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as target:
        for record in source.infolist():
            data = source.read(record.filename)
            if record.filename.endswith('/data.pkl'):
                data = data.replace(b'numpy._core.multiarray',
                                    b'numpy.core.multiarray')
            target.writestr(record.filename, data)
    path = tmp_path / 'numpy1.pth'
    path.write_bytes(buffer.getvalue())
    assert 'numpy.core.multiarray.scalar' in (
        torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    ckpt = CheckpointLoader.load_checkpoint(str(path), logger='silent')
    assert ckpt['meta']['iter'] == TRAIN_ITERS


def test_install_is_idempotent():
    before = CheckpointLoader.__dict__['load_checkpoint']
    assert install_checkpoint_allowlist() is True
    assert install_checkpoint_allowlist() is True
    assert CheckpointLoader.__dict__['load_checkpoint'] is before
    assert before.__func__.__csn_allowlist__


def test_missing_file_still_reports_missing(tmp_path):
    missing = osp.join(str(tmp_path), 'absent.pth')
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        CheckpointLoader.load_checkpoint(missing, logger='silent')
