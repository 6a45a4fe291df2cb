"""bf16 end to end on any CPU: BF16OptimWrapper (SGD and AdamW) trains the
quickstart config through MMAction2's heads and metrics, and the config's
``val_cfg``/``test_cfg`` ``fp16=True`` validate and test it, on this CPU's
path and on the path of a CPU without native bf16 (forced with the ``bf16``
switch, and as oneDNN sees an AVX2-only CPU). The optimizer steps outside
autocast, on fp32 parameters, so one optimizer a path covers both."""
import argparse
import contextlib
import os.path as osp

import pytest
import torch
from cpu_flags import expect_native_bf16
from flow_helpers import MIM, MOTION_CONFIG, run
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from csn_plugin.models.acceleration import disabled

OPTIMIZERS = dict(
    SGD=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    AdamW=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))


def tiny_config(tiny_options, work_dir, optimizer):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(['--cfg-options', *tiny_options]).cfg_options
    cfg = Config.fromfile(MOTION_CONFIG)
    cfg.merge_from_dict(options)
    cfg.optim_wrapper = dict(type='BF16OptimWrapper',
                             optimizer=OPTIMIZERS[optimizer])
    cfg.test_cfg = dict(type='TestLoop', fp16=True)
    cfg.val_cfg = dict(type='ValLoop', fp16=True)
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.num_workers = cfg.val_dataloader.num_workers = 0
    cfg.test_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.val_dataloader.persistent_workers = False
    cfg.test_dataloader.persistent_workers = False
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=0)
    return cfg


@pytest.mark.parametrize('optimizer, forced_off', [('SGD', False),
                                                   ('AdamW', True)])
def test_bf16_train_and_test(tmp_path, tiny_options, optimizer, forced_off):
    cfg = tiny_config(tiny_options, tmp_path, optimizer)
    switch = disabled('bf16') if forced_off else contextlib.nullcontext()
    expect_bf16 = expect_native_bf16() and not forced_off
    with switch:
        runner = Runner.from_cfg(cfg)
        head = runner.model.cls_head
        dtypes = []
        handle = head.fc_cls.register_forward_hook(
            lambda module, args, out: dtypes.append(out.dtype))
        before = [p.detach().clone() for p in head.parameters()]
        runner.train()
        trained = len(dtypes)
        metrics = runner.test()
        handle.remove()
    expected = torch.bfloat16 if expect_bf16 else torch.float32
    assert trained and set(dtypes) == {expected}
    assert all(torch.isfinite(p).all() and not torch.equal(p, b)
               for p, b in zip(head.parameters(), before))
    assert 0 <= metrics['acc/top1'] <= 1
    logs = runner.message_hub.log_scalars
    assert torch.isfinite(torch.tensor(logs['train/loss'].current()))
    assert 0 <= logs['train/top1_acc'].current() <= 1  # the head's own


def test_bf16_mim_test_on_an_avx2_only_cpu(mim_trained, tiny_options,
                                           tmp_path):
    """The reported crash: ``mim test csn_plugin <config> -C ck.pth
    --cfg-options test_cfg.fp16=True`` on a CPU whose oneDNN refuses bf16.
    It must warn once and test in fp32."""
    work_dir, _ = mim_trained
    output = run([
        MIM, 'test', 'csn_plugin', MOTION_CONFIG, '-C',
        osp.join(work_dir, 'epoch_1.pth'), '--work-dir', tmp_path,
        '--cfg-options', *tiny_options, 'test_cfg.fp16=True'
    ], ONEDNN_MAX_CPU_ISA='AVX2')
    assert output.count('bf16 was asked for') == 1
    assert 'acc/top1' in output
    assert 'bf16 path needs' not in output

