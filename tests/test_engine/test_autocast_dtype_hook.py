"""AutocastDtypeHook sets the CUDA autocast dtype that mmengine's
``fp16=True`` loops use, for validation and testing only."""
import warnings
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from cpu_flags import expect_native_bf16
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from csn_plugin.engine import AutocastDtypeHook
from mmaction.registry import HOOKS

RUNNER = SimpleNamespace()


def cuda_dtype():
    return torch.get_autocast_dtype('cuda')


def test_registered():
    # whatever default scope an earlier test's Runner left behind
    with DefaultScope.overwrite_default_scope('mmaction'):
        hook = HOOKS.build(dict(type='AutocastDtypeHook', dtype='float16'))
    assert isinstance(hook, AutocastDtypeHook)
    assert hook.dtype is torch.float16


def test_rejects_other_dtypes():
    with pytest.raises(ValueError, match="dtype must be one of.*'fp16'"):
        AutocastDtypeHook(dtype='fp16')


@pytest.mark.parametrize('phase', ['val', 'test'])
def test_sets_and_restores_around_the_epoch(phase):
    before = cuda_dtype()
    assert before is torch.float16  # torch's default
    hook = AutocastDtypeHook()
    getattr(hook, f'before_{phase}_epoch')(RUNNER)
    assert cuda_dtype() is torch.bfloat16
    # mmengine's autocast() reads it through the deprecated alias
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        assert torch.get_autocast_gpu_dtype() is torch.bfloat16
    getattr(hook, f'after_{phase}_epoch')(RUNNER, metrics={})
    assert cuda_dtype() is before
    # an after without a before changes nothing
    getattr(hook, f'after_{phase}_epoch')(RUNNER, metrics={})
    assert cuda_dtype() is before


def test_training_is_untouched():
    hook = AutocastDtypeHook()
    hook.before_train(RUNNER)
    hook.before_train_epoch(RUNNER)
    hook.before_train_iter(RUNNER, 0)
    assert cuda_dtype() is torch.float16


class Probe(BaseModel):
    """Records the autocast state of each forward."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.seen = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.seen.append((torch.is_autocast_enabled('cpu'), cuda_dtype()))
        out = self.linear(inputs)  # (batch, 1)
        return list(out) if mode == 'predict' else out


class Count(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.append(len(data_samples))

    def compute_metrics(self, results):
        return dict(count=sum(results))


def test_in_a_test_loop(tmp_path):
    """In mmengine's TestLoop with fp16=True: the model runs under autocast
    with the hook's CUDA dtype set, and the default is back afterwards."""
    model = Probe()
    data = [dict(inputs=torch.randn(2)) for _ in range(4)]
    runner = Runner(
        model=model, work_dir=str(tmp_path),
        test_dataloader=dict(dataset=data, batch_size=2,
                             sampler=dict(type='DefaultSampler',
                                          shuffle=False),
                             collate_fn=dict(type='default_collate')),
        test_cfg=dict(type='TestLoop', fp16=True),
        test_evaluator=Count(),
        custom_hooks=[dict(type='AutocastDtypeHook', dtype='bfloat16')],
        default_scope='mmaction')
    metrics = runner.test()
    assert metrics == dict(count=4)
    # CPU bf16 autocast where the CPU has native bf16; elsewhere the
    # plugin's fallback runs fp32 (csn_plugin/compat/cpu_autocast.py)
    assert model.seen == [(expect_native_bf16(), torch.bfloat16)] * 2
    assert cuda_dtype() is torch.float16
