"""BF16OptimWrapper: bf16 autocast training, also on the CPU."""
import contextlib

import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

from csn_plugin.engine import BF16OptimWrapper
from cpu_flags import expect_native_bf16

from csn_plugin.models.acceleration import disabled
from mmaction.registry import OPTIM_WRAPPERS as MMACTION_OPTIM_WRAPPERS


def build(**kwargs):
    model = nn.Sequential(nn.Conv3d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(1, 3, 4, 6, 6))  # materialize the lazy layer
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return model, BF16OptimWrapper(optimizer=optimizer, **kwargs)


def test_registered_for_mmengine_and_mmaction_configs():
    for registry in (OPTIM_WRAPPERS, MMACTION_OPTIM_WRAPPERS):
        assert registry.get('BF16OptimWrapper') is BF16OptimWrapper
    model = nn.Linear(2, 2)
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='BF16OptimWrapper',
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    assert isinstance(wrapper, OptimWrapper)


@pytest.mark.parametrize('forced_off', [False, True])
def test_forward_in_bf16_parameters_and_gradients_in_fp32(forced_off):
    """bf16 where the CPU has native bf16; elsewhere (forced here) fp32."""
    model, wrapper = build()
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randn(2, 3, 4, 6, 6)
    switch = disabled('bf16') if forced_off else contextlib.nullcontext()
    with switch, wrapper.optim_context(model):
        out = model(x)
        native = expect_native_bf16() and not forced_off
        assert out.dtype == (torch.bfloat16 if native else torch.float32)
        loss = out.float().square().mean()
    wrapper.update_params(loss)
    for p, b in zip(model.parameters(), before):
        assert p.dtype == torch.float32
        assert not torch.equal(p, b)
    # outside the context the model runs in fp32 again
    assert model(x).dtype == torch.float32


def test_bad_device_type():
    with pytest.raises(ValueError, match='device_type'):
        build(device_type='tpu')


@pytest.mark.parametrize('device_type, params_on, expected', [
    (None, 'cpu', 'cpu'), (None, 'meta', 'meta'), ('cuda', 'cpu', 'cuda')])
def test_autocast_device_follows_the_model(monkeypatch, device_type,
                                           params_on, expected):
    """The autocast device is the model's (its first parameter's) unless
    given: a model moved to a GPU trains under CUDA autocast (the meta
    device stands in for a device other than the CPU here)."""
    from csn_plugin.engine.optim_wrappers import bf16_optim_wrapper
    seen = []
    monkeypatch.setattr(bf16_optim_wrapper, 'bf16_autocast',
                        lambda device: seen.append(device) or
                        contextlib.nullcontext())
    model, wrapper = build(device_type=device_type)
    model.to(params_on)
    with wrapper.optim_context(model):
        pass
    assert seen == [expected]


def test_cuda_autocast_ignores_the_cpu_bf16_policy():
    """bf16 on CUDA does not depend on the CPU's native bf16: it is CUDA
    bf16 autocast (inactive here when torch has no CUDA)."""
    import warnings
    from csn_plugin.models.acceleration import bf16_autocast
    with disabled('bf16'), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "CUDA is not available"
        context = bf16_autocast('cuda')
    assert isinstance(context, torch.autocast)
    assert (context.device, context.fast_dtype) == ('cuda', torch.bfloat16)
