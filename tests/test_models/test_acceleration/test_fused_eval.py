"""The eval-mode fused path computes what the module-by-module path computes,
on every path a CPU may take: oneDNN's fused kernels, the public ops when
``fused`` is switched off, bf16 with and without native bf16."""
import contextlib

import pytest
import torch
from csn_reference import max_relative_error, randomize_bn

from csn_plugin.models import ResNet3dCSN, SEVNet
from csn_plugin.models.acceleration import (disabled, fused_eval,
                                            fused_kernels, native_bf16)

# the fused path's own tests: on even where the caller switched it off
pytestmark = pytest.mark.usefixtures('fused_enabled')

SMALL = dict(depth=26, base_channels=8, with_pool2=False)
CLIP = (2, 3, 8, 32, 32)


def backbone(dtype=torch.float32, **kwargs):
    torch.manual_seed(0)
    model = ResNet3dCSN(**dict(SMALL, **kwargs))
    model.init_weights()
    randomize_bn(model, shift=.2)
    return model.to(dtype).eval()


def clip(dtype=torch.float32, seed=1):
    return torch.randn(CLIP, generator=torch.Generator().manual_seed(seed),
                       dtype=dtype)


def eager(model, x):
    """The module-by-module path."""
    with disabled('fused'), torch.no_grad():
        return model(x)


@pytest.mark.parametrize('dtype, tolerance', [(torch.float64, 1e-12),
                                              (torch.float32, 1e-5)])
@pytest.mark.parametrize('bottleneck_mode', ['ir', 'ip'])
def test_fused_matches_module_path(dtype, tolerance, bottleneck_mode,
                                   monkeypatch):
    """float64 takes the fused path with public ops (the logic: folding, the
    residual sums written in place) and must be exact; float32 takes
    oneDNN's fused kernels where present."""
    model = backbone(dtype, bottleneck_mode=bottleneck_mode)
    x = clip(dtype)
    taken = []
    run = fused_eval.run
    monkeypatch.setattr(fused_eval, 'run',
                        lambda part, x: taken.append(part) or run(part, x))
    with torch.no_grad():
        got = model(x)
    assert len(taken) == 5  # the stem and the four stages
    assert max_relative_error(got, eager(model, x)) < tolerance


@pytest.mark.parametrize('norm_eval', [False, True])
def test_frozen_bn_training_folds_with_autograd(norm_eval, monkeypatch):
    """Training with frozen BN (norm_eval) takes the fused path, in float64
    exactly: outputs and every gradient, BN's affine parameters included.
    BN in training mode keeps the module path."""
    ref = backbone(torch.float64, norm_eval=norm_eval)
    model = backbone(torch.float64, norm_eval=norm_eval)
    taken = []
    run = fused_eval.run
    monkeypatch.setattr(fused_eval, 'run',
                        lambda part, x: taken.append(part) or run(part, x))
    x = clip(torch.float64)
    outs, grads = [], []
    for m, switch in ((ref, disabled('fused')), (model,
                                                 contextlib.nullcontext())):
        m.train()
        with switch:
            out = m(x)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append({n: p.grad for n, p in m.named_parameters()})
    assert len(taken) == (5 if norm_eval else 0)
    assert max_relative_error(outs[1], outs[0]) < 1e-12
    assert grads[0].keys() == grads[1].keys()
    for name, g in grads[0].items():
        assert g is not None, name
        assert max_relative_error(grads[1][name], g) < 1e-10, name


def test_every_stage_output_and_the_input_survive():
    """Blocks write their sums into tensors made inside a stage: never into
    the input, nor into an earlier stage's returned output."""
    model = backbone(bottleneck_mode='ip', out_indices=(0, 1, 2, 3))
    x = clip()
    x_before = x.clone()
    with torch.no_grad():
        fused = model(x)
    assert torch.equal(x, x_before)
    for got, want in zip(fused, eager(model, x)):
        assert max_relative_error(got, want) < 1e-5


def test_modules_and_state_dict_stay_as_they_are():
    model = backbone()
    keys = list(model.state_dict())
    with torch.no_grad():
        model(clip())
    assert list(model.state_dict()) == keys and not model.deploy


@pytest.mark.parametrize('why', ['checkpointing', 'train', 'trace'])
def test_steps_aside(why, monkeypatch):
    """Gradient checkpointing, BN in training mode and tracers take the
    module path."""
    model = backbone(with_cp=why == 'checkpointing')
    taken = []
    monkeypatch.setattr(fused_eval, 'run',
                        lambda part, x: taken.append(part) or part(x))
    x = clip()
    if why == 'checkpointing':
        out = model(x)
        assert out.requires_grad
    elif why == 'train':
        model.train()
        with torch.no_grad():
            model(x)
        assert model.layer1[0].conv1.bn.num_batches_tracked > 0
    else:
        with torch.no_grad():
            graph = torch.jit.trace(model, x, check_trace=False).inlined_graph
        assert 'mkldnn' not in str(graph)
    # the stem has no checkpointing: it may fold with autograd
    assert taken == ([model.conv1] if why == 'checkpointing' else [])


def test_fused_kernels_switch(monkeypatch):
    """``fused`` disabled: the public ops, same results."""
    calls = []
    monkeypatch.setattr(
        torch.ops.mkldnn, '_convolution_pointwise',
        _Spy(torch.ops.mkldnn._convolution_pointwise, calls), raising=False)
    model = backbone()
    x = clip()
    with torch.no_grad():
        fused = model(x)
    assert bool(calls) == fused_kernels.onednn_works()
    calls.clear()
    assert max_relative_error(fused, eager(model, x)) < 1e-5
    assert calls == []


class _Spy:
    """Counts calls of an op overload packet, keeping its overloads."""

    def __init__(self, op, calls):
        self.op, self.calls = op, calls

    def __call__(self, *args):
        self.calls.append(1)
        return self.op(*args)

    def __getattr__(self, name):
        return getattr(self.op, name)


@pytest.mark.parametrize('forced_off', [False, True])
def test_bf16_autocast(forced_off):
    """Under CPU bf16 autocast: bf16 with native bf16; without (forced
    here), no crash: the module path runs in bf16 as autocast asks."""
    model = backbone()
    x = clip()
    expected = eager(model, x)
    switch = disabled('bf16') if forced_off else contextlib.nullcontext()
    with switch, torch.no_grad(), torch.autocast('cpu',
                                                 dtype=torch.bfloat16):
        assert fused_eval.applies(model.layer1, x) == native_bf16()
        got = model(x)
    assert got.dtype == torch.bfloat16
    assert max_relative_error(got.float(), expected) < 3e-2


def test_sevnet_takes_the_fused_path():
    torch.manual_seed(0)
    model = SEVNet(arch='s', with_se=True, out_indices=(0, 1, 2, 3))
    model.init_weights()
    randomize_bn(model, shift=.2)
    model.eval()
    x = clip()
    with torch.no_grad():
        fused = model(x)
    for got, want in zip(fused, eager(model, x)):
        assert max_relative_error(got, want) < 1e-5


def test_check_runs_on_the_cpu_whatever_the_default_device():
    """Building a backbone on the meta device first (as the complexity tool
    does) must not spoil the one-off check of the fused kernels."""
    fused_kernels.onednn_works.cache_clear()
    try:
        with torch.device('meta'):
            ResNet3dCSN(**SMALL)
            works = fused_kernels.onednn_works()
        assert works == torch.backends.mkldnn.is_available()
    finally:
        fused_kernels.onednn_works.cache_clear()


def test_the_kernel_check_leaves_the_global_rng_alone():
    """The one-off check of the fused kernels draws from its own generator:
    a seeded build after it gets the weights a seeded build gets in a fresh
    process (an exactly resumed run depends on it)."""
    fused_kernels.onednn_works.cache_clear()
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    fused_kernels.onednn_works()
    assert torch.equal(torch.rand(4), expected)
