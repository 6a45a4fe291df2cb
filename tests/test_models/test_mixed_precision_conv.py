"""MixedPrecisionConv3d: fp32 where oneDNN's bf16 training kernels fall
short, nn.Conv3d everywhere else."""
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer

from csn_plugin.models import ResNet3dCSN
from csn_plugin.models.mixed_precision_conv import MixedPrecisionConv3d

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
