"""Checkpoints written whole or not at all, old ones removed only after the
new one is saved, and auto-resume past a truncated newest checkpoint, with
mmengine's real Runner and CheckpointHook (the kill of a real ``mim train``
process is in tests/test_flows/test_interrupted_training.py)."""
import os
import struct
import zipfile

import pytest
import torch
from mmengine.fileio import LocalBackend
from toy_runner import build_runner

import csn_plugin  # noqa: F401  (installs the fixes)
from csn_plugin.compat.checkpoint_saving import (atomic_write,
                                                 checkpoint_problem,
                                                 find_intact_checkpoint)

EPOCHS = 2


def epoch_runner(work_dir, name, max_epochs=EPOCHS, max_keep_ckpts=1,
                 save_best=None, **kwargs):
    """Two iterations an epoch; keeps the last ``max_keep_ckpts``; with
    ``save_best``, validates every epoch and keeps the best checkpoint."""
    return build_runner(
        work_dir,
        name,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs,
                       val_interval=1 if save_best else 100),
        checkpoint=dict(type='CheckpointHook', interval=1,
                        max_keep_ckpts=max_keep_ckpts, save_best=save_best,
                        rule='greater'),
        **kwargs)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def test_atomic_write_leaves_the_old_file_on_error(tmp_path):
    path = tmp_path / 'last_checkpoint'
    path.write_text('old')
    with pytest.raises(RuntimeError, match='killed'):
        with atomic_write(str(path)) as f:
            f.write('new, half written')
            raise RuntimeError('killed')
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['last_checkpoint']
    with atomic_write(str(path)) as f:
        f.write('new')
    assert path.read_text() == 'new'


def test_old_checkpoints_are_still_removed(tmp_path):
    # 'hits' of the toy metric stays the same or grows: each epoch's
    # checkpoint may become the best, replacing the one before.
    epoch_runner(tmp_path, f'{tmp_path.name}-train',
                 save_best='hits').train()
    saved = sorted(n for n in os.listdir(tmp_path) if 'pth' in n)
    # epoch_1.pth and the first best removed, no .tmp left
    assert saved[-1] == 'epoch_2.pth'
    assert len(saved) == 2 and saved[0].startswith('best_hits_epoch_')
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_2.pth')


def test_a_save_that_dies_keeps_the_previous_checkpoint(
        tmp_path, monkeypatch):
    """max_keep_ckpts=1: mmengine removes epoch_1.pth before it writes
    epoch_2.pth, in place. A save that dies half-way then left nothing to
    resume from; now epoch_1.pth and last_checkpoint stay as they were."""
    put = LocalBackend.put

    def dies_half_way(self, obj, filepath):
        if 'epoch_2' not in str(filepath):
            return put(self, obj, filepath)
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        raise RuntimeError('killed while saving')

    monkeypatch.setattr(LocalBackend, 'put', dies_half_way)
    runner = epoch_runner(tmp_path, f'{tmp_path.name}-train')
    with pytest.raises(RuntimeError, match='killed while saving'):
        runner.train()
    assert sorted(n for n in os.listdir(tmp_path) if 'pth' in n) == [
        'epoch_1.pth'
    ]
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_1.pth')
    assert checkpoint_problem(str(tmp_path / 'epoch_1.pth')) is None


@pytest.fixture
def two_checkpoints(tmp_path):
    """epoch_1.pth intact, epoch_2.pth truncated and named by
    last_checkpoint: what a run killed while writing epoch_2.pth in place
    leaves behind."""
    epoch_runner(tmp_path, f'{tmp_path.name}-train', max_keep_ckpts=2).train()
    _truncate(tmp_path / 'epoch_2.pth')
    return tmp_path


def test_checkpoint_problems(two_checkpoints, tmp_path_factory):
    work_dir = two_checkpoints
    assert checkpoint_problem(str(work_dir / 'epoch_1.pth')) is None
    assert checkpoint_problem(str(work_dir / 'epoch_2.pth')).startswith(
        'it is truncated or damaged (File is not a zip file): a run killed '
        'while saving it?')
    assert checkpoint_problem(str(work_dir / 'none.pth')) == \
        'it does not exist'
    empty = tmp_path_factory.mktemp('empty') / 'empty.pth'
    empty.write_bytes(b'')
    assert checkpoint_problem(str(empty)) == 'it is empty'
    # One flipped byte inside a stored tensor: the CRC check finds it.
    path = work_dir / 'epoch_1.pth'
    with zipfile.ZipFile(path) as archive:
        entry = next(i for i in archive.infolist()
                     if i.filename.endswith('/data/0'))
    data = bytearray(path.read_bytes())
    # A local file header: 30 bytes, then the name and the extra field.
    name_len, extra_len = struct.unpack_from('<HH', data,
                                             entry.header_offset + 26)
    data[entry.header_offset + 30 + name_len + extra_len] ^= 0xFF
    (work_dir / 'flipped.pth').write_bytes(bytes(data))
    assert 'fails its CRC check' in checkpoint_problem(
        str(work_dir / 'flipped.pth'))


def test_auto_resume_skips_a_truncated_newest_checkpoint(
        two_checkpoints, capture_warnings):
    work_dir = two_checkpoints
    runner = epoch_runner(work_dir, f'{work_dir.name}-resume', max_epochs=3,
                          resume=True)
    warnings = capture_warnings()
    runner.load_or_resume()
    assert runner.epoch == 1 and runner.iter == 2
    assert warnings == [
        f'Auto-resume: not resuming from {work_dir}/epoch_2.pth: it is '
        'truncated or damaged (File is not a zip file): a run killed while '
        f'saving it?. Resuming from {work_dir}/epoch_1.pth instead, the '
        'newest intact checkpoint.'
    ]
    # Named explicitly, a damaged checkpoint is an error naming it.
    runner = epoch_runner(work_dir, f'{work_dir.name}-explicit',
                          resume=True, load_from=str(work_dir / 'epoch_2.pth'))
    with pytest.raises(ValueError, match=f'^cannot resume from {work_dir}/'
                       'epoch_2.pth: it is truncated or damaged'):
        runner.load_or_resume()


def test_auto_resume_without_an_intact_checkpoint(two_checkpoints):
    work_dir = two_checkpoints
    (work_dir / 'last_checkpoint').write_text('')  # killed while writing it
    assert find_intact_checkpoint(str(work_dir)) == str(work_dir /
                                                        'epoch_1.pth')
    _truncate(work_dir / 'epoch_1.pth')
    with pytest.raises(FileNotFoundError) as info:
        find_intact_checkpoint(str(work_dir))
    message = str(info.value)
    assert message.startswith(
        f'Auto-resume found no intact checkpoint in {work_dir}:\n'
        f'  {work_dir}/last_checkpoint: it is empty\n')
    assert f'{work_dir}/epoch_1.pth: it is truncated' in message
    assert f'{work_dir}/epoch_2.pth: it is truncated' in message
    # Nothing saved yet: a fresh start, as in mmengine.
    fresh = work_dir / 'fresh'
    fresh.mkdir()
    assert find_intact_checkpoint(str(fresh)) is None


def test_saved_checkpoints_load(tmp_path):
    """What the atomic save writes is an ordinary torch checkpoint."""
    runner = epoch_runner(tmp_path, f'{tmp_path.name}-train', max_epochs=1)
    runner.train()
    saved = torch.load(str(tmp_path / 'epoch_1.pth'), weights_only=False)
    assert saved['meta']['epoch'] == 1
    torch.testing.assert_close(saved['state_dict']['fc.weight'],
                               runner.model.fc.weight)
