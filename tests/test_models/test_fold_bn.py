"""fold_conv_bn: BN folded into the conv before it."""
import pytest
import torch
from mmcv.cnn import ConvModule

from csn_plugin.models.fold_bn import fold_conv_bn


def conv_bn(**kwargs):
    torch.manual_seed(0)
    m = ConvModule(4, 6, 3, padding=1, conv_cfg=dict(type='Conv3d'),
                   norm_cfg=dict(type='BN3d', eps=1e-3), **kwargs)
    with torch.no_grad():
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(.5, 2)
        m.bn.weight.uniform_(.5, 2)
        m.bn.bias.uniform_(-1, 1)
    return m.double().eval()


@pytest.mark.parametrize('bias', [False, True])
def test_fold_matches_eval_bn(bias):
    m = conv_bn(bias=bias)
    x = torch.randn(2, 4, 3, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        expected = m(x)
        assert fold_conv_bn(m)
        got = m(x)
    assert m.norm is None and not m.with_norm
    assert m.conv.bias is not None
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert not fold_conv_bn(m)  # nothing left to fold


def test_fold_refuses_other_norms():
    m = ConvModule(4, 8, 1, conv_cfg=dict(type='Conv3d'),
                   norm_cfg=dict(type='GN', num_groups=2))
    with pytest.raises(TypeError, match='BatchNorm with running'):
        fold_conv_bn(m)


def test_fold_refuses_norm_before_conv():
    m = ConvModule(4, 4, 1, conv_cfg=dict(type='Conv3d'),
                   norm_cfg=dict(type='BN3d'), order=('norm', 'conv', 'act'))
    with pytest.raises(ValueError, match='order'):
        fold_conv_bn(m)


def test_fold_refuses_other_modules():
    with pytest.raises(TypeError, match='ConvModule'):
        fold_conv_bn(torch.nn.Conv3d(2, 2, 1))
