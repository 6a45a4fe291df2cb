"""BN folded into the conv before it: folded_params, and fuse_unit, which
turns a conv unit into the FusedConv3d that deploy puts in its place."""
import pytest
import torch
from mmcv.cnn import ConvModule

from csn_plugin.models.acceleration import FusedConv3d, fuse_unit
from csn_plugin.models.acceleration.fold_bn import folded_params


def conv_bn(act=True, **kwargs):
    torch.manual_seed(0)
    m = ConvModule(4, 6, 3, padding=1, conv_cfg=dict(type='Conv3d'),
                   norm_cfg=dict(type='BN3d', eps=1e-3),
                   act_cfg=dict(type='ReLU') if act else None, **kwargs)
    with torch.no_grad():
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(.5, 2)
        m.bn.weight.uniform_(.5, 2)
        m.bn.bias.uniform_(-1, 1)
    return m.double().eval()


@pytest.mark.parametrize('bias', [False, True])
@pytest.mark.parametrize('act', [False, True])
def test_fused_unit_matches_eval_bn(bias, act):
    m = conv_bn(act, bias=bias)
    x = torch.randn(2, 4, 3, 5, 5, dtype=torch.float64)
    fused = fuse_unit(m)
    assert type(fused) is FusedConv3d and fused.relu == act
    assert not fused.training and not fused.weight.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(fused(x), m(x), rtol=1e-12, atol=1e-12)


def test_folded_params_are_differentiable():
    m = conv_bn(act=False)
    weight, bias = folded_params(m.conv, m.bn)
    (weight.sum() + bias.sum()).backward()
    assert m.conv.weight.grad is not None and m.bn.weight.grad is not None


def test_unit_without_norm_gets_a_zero_bias():
    m = ConvModule(4, 6, 1, conv_cfg=dict(type='Conv3d'), bias=False,
                   act_cfg=None).eval()
    fused = fuse_unit(m)
    assert torch.equal(fused.bias, torch.zeros(6))
    x = torch.randn(1, 4, 2, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), m(x))


@pytest.mark.parametrize('module, match', [
    (ConvModule(4, 8, 1, conv_cfg=dict(type='Conv3d'),
                norm_cfg=dict(type='GN', num_groups=2)),
     'BatchNorm with running'),
    (ConvModule(4, 4, 1, conv_cfg=dict(type='Conv3d'),
                norm_cfg=dict(type='BN3d'), order=('norm', 'conv', 'act')),
     'order'),
    (ConvModule(4, 4, 1, conv_cfg=dict(type='Conv3d'),
                norm_cfg=dict(type='BN3d'), act_cfg=dict(type='Sigmoid')),
     'Sigmoid, not ReLU'),
    (ConvModule(4, 4, 1, conv_cfg=dict(type='Conv2d'),
                norm_cfg=dict(type='BN')), 'not a zero-padded nn.Conv3d'),
    (torch.nn.Conv3d(2, 2, 1), 'Conv3d is not a ConvModule'),
])
def test_fuse_unit_names_what_it_cannot_fuse(module, match):
    with pytest.raises(TypeError, match=match):
        fuse_unit(module)
