"""MixedPrecisionConv3d: fp32 where oneDNN's bf16 training kernels fall
short, nn.Conv3d everywhere else."""
import contextlib

import pytest
import torch
import torch.nn as nn
from cpu_flags import expect_native_bf16
from mmcv.cnn import build_conv_layer

from csn_plugin.models import ResNet3dCSN
from csn_plugin.models.acceleration import MixedPrecisionConv3d
from test_layout import clip as layout_clip
from test_layout import pair as layout_pair
from test_layout import train_step

BF16 = dict(device_type='cpu', dtype=torch.bfloat16)


def conv(cin, cout, kernel, groups=1, stride=1):
    torch.manual_seed(0)
    return MixedPrecisionConv3d(cin, cout, kernel, stride=stride,
                                padding=kernel // 2, groups=groups,
                                bias=False)


def test_registered_and_the_backbone_default():
    layer = build_conv_layer(dict(type='MixedPrecisionConv3d'), 4, 4, 1)
    assert type(layer) is MixedPrecisionConv3d
    model = ResNet3dCSN(depth=26, base_channels=8)
    assert all(type(m) is MixedPrecisionConv3d for m in model.modules()
               if isinstance(m, nn.Conv3d))
    plain = ResNet3dCSN(depth=26, base_channels=8,
                        conv_cfg=dict(type='Conv3d'))
    assert plain.state_dict().keys() == model.state_dict().keys()


@pytest.mark.parametrize('layer, frames, fp32', [
    (dict(cin=16, cout=16, kernel=3, groups=16), 4, True),  # depthwise
    (dict(cin=16, cout=32, kernel=3), 2, True),  # 2 frames, 3x3x3
    (dict(cin=16, cout=32, kernel=3), 4, False),
    (dict(cin=16, cout=32, kernel=3, stride=2), 2, False),
    (dict(cin=16, cout=32, kernel=1), 2, False),  # no temporal kernel
])
def test_training_under_cpu_bf16_autocast(layer, frames, fp32):
    m = conv(**layer)
    x = torch.randn(2, 16, frames, 6, 6)
    m(x).square().sum().backward()
    expected = m.weight.grad.clone()
    m.weight.grad = None
    with torch.autocast(**BF16):
        out = m(x)
        out.float().square().sum().backward()
    assert out.dtype == (torch.float32 if fp32 else torch.bfloat16)
    if fp32:
        torch.testing.assert_close(m.weight.grad, expected)
    else:  # within bf16 rounding
        err = (m.weight.grad - expected).norm() / expected.norm()
        assert err < 2e-2


def test_inference_and_fp32_are_plain_conv3d():
    m = conv(16, 16, 3, groups=16)
    x = torch.randn(1, 16, 2, 6, 6)
    with torch.no_grad(), torch.autocast(**BF16):
        assert m(x).dtype == torch.bfloat16
    ref = nn.Conv3d(16, 16, 3, padding=1, groups=16, bias=False)
    ref.load_state_dict(m.state_dict())
    torch.testing.assert_close(m(x), ref(x))


@pytest.mark.parametrize('forced_off', [False, True])
def test_bf16_autocast_is_bf16_only_with_native_bf16(forced_off,
                                                     monkeypatch):
    """bf16 on a CPU with native bf16; on any other (here: forced with the
    ``bf16`` switch) one warning and fp32, never a crash."""
    from csn_plugin.models.acceleration import (bf16_autocast, disabled,
                                                support)
    logged = []
    monkeypatch.setattr(support, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    monkeypatch.setattr(support, '_logged', set())
    x, w = torch.randn(4, 8), torch.randn(3, 8)
    switch = disabled('bf16') if forced_off else contextlib.nullcontext()
    native = expect_native_bf16() and not forced_off
    with switch:
        for _ in range(2):
            with bf16_autocast('cpu'):
                out = torch.nn.functional.linear(x, w)
    assert out.dtype == (torch.bfloat16 if native else torch.float32)
    warnings = [m for m in logged if 'no native bf16' in m]
    assert len(warnings) == (0 if native else 1)


@pytest.mark.parametrize('memory_format', ['channels_last_3d', 'contiguous'])
def test_bf16_training_gradients_are_close_to_float32(memory_format):
    """Under CPU bf16 autocast (BF16OptimWrapper), BN frozen as in CSN
    fine-tuning: gradients within bf16 rounding (through 26 layers) of the
    fp32 ones; the last stage computes in bf16."""
    ref, fast = layout_pair(memory_format=memory_format,
                            cfg=dict(norm_eval=True))
    x = layout_clip()  # 8 frames: layer3 gets 2, layer4 1
    projection = torch.randn(2, 256, 1, 1, 1)
    _, grads_ref = train_step(ref, x, projection)
    fast.train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = fast(x)
        loss = (out.float() * projection).sum()
    loss.backward()
    assert out.dtype == torch.bfloat16  # the last 1x1x1 conv ran in bf16
    for name, p in fast.named_parameters():
        g = grads_ref[name]
        err = ((p.grad - g).norm() / g.norm()).item()
        assert err < 0.25, name
