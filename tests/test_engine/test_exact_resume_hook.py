"""ExactResumeHook: a run resumed from an epoch checkpoint ends with the
weights of the uninterrupted run, with random numbers drawn in the main
process (dropout) and in two persistent DataLoader workers (augmentation).
Without the hook they differ. (A real killed ``mim train`` is resumed in
tests/test_flows/test_interrupted_training.py.)"""
import shutil

import pytest
import torch
from toy_runner import ToyDataset, ToyModel, build_runner

from csn_plugin.engine import ExactResumeHook

EPOCHS = 3


def _train(work_dir, exact, seed, **kwargs):
    runner = build_runner(
        work_dir,
        f'{work_dir.name}-{exact}',
        train_cfg=dict(by_epoch=True, max_epochs=EPOCHS, val_interval=100),
        checkpoint=dict(type='CheckpointHook', interval=1),
        model=ToyModel(dropout=0.5),
        dataset=ToyDataset(noise=True),
        num_workers=2,
        shuffle=True,
        custom_hooks=[ExactResumeHook()] if exact else [],
        randomness=dict(seed=seed),
        default_scope='mmaction',  # as the other tests here expect it
        **kwargs)
    runner.train()
    # Persistent workers left to the garbage collector would hold the next
    # test up: torch's shutdown waits 5 s for each of them there.
    runner.train_dataloader._iterator._shutdown_workers()
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


# seed=None: each run draws its seed; the resumed one takes the
# checkpoint's, for its generators and (through the hook) its sampler.
@pytest.mark.parametrize('exact, seed', [(True, 0), (False, 0), (True, None)])
def test_resumed_run_ends_as_the_uninterrupted_one(tmp_path, exact, seed):
    full = tmp_path / 'full'
    weights = _train(full, exact, seed)
    resumed = tmp_path / 'resumed'
    resumed.mkdir()
    shutil.copy(full / 'epoch_1.pth', resumed)
    (resumed / 'last_checkpoint').write_text(str(resumed / 'epoch_1.pth'))
    weights_resumed = _train(resumed, exact, seed, resume=True)
    same = all(
        torch.allclose(weights[k], weights_resumed[k], rtol=0, atol=1e-7)
        for k in weights)
    assert same == exact
