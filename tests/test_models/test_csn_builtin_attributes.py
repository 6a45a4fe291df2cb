"""The plugin's ResNet3dCSN and its blocks have the public attributes of
MMAction2's ``ResNet3dCSN``, ``CSNBottleneck3d`` (its ``Bottleneck3d``) and
``BasicBlock3d``, with the same values; and they pass the checks MMAction2's
own CSN backbone test makes (rewritten here)."""
import inspect

import pytest
import torch
import torch.nn as nn
from csn_reference import builtin_csn
from mmaction.models.backbones.resnet3d import \
    BasicBlock3d as BuiltinBasicBlock3d
from torch.nn.modules.batchnorm import _BatchNorm

from csn_plugin.models import FactorizedResNet3d, ResNet3dCSN
from csn_plugin.models.blocks import BasicBlock3d
from csn_plugin.models.conv_builders import DenseConv3d

#: set by nn.Module or mmengine's BaseModule on every module alike
MODULE_BOOKKEEPING = {'training', 'is_init', 'dump_patches', 'call_super_init'}


def public_attributes(obj):
    """Public names an instance answers with data, not a method: its
    ``vars()``, its class attributes and properties (submodules excluded:
    the state-dict tests compare those)."""
    names = {n for n in vars(obj) if not n.startswith('_')}
    for cls in type(obj).__mro__:
        if cls in (nn.Module, object):
            break
        for name, value in vars(cls).items():
            if name.startswith('_'):
                continue
            if isinstance(value, property) or not (
                    callable(value) or isinstance(value,
                                                  (staticmethod,
                                                   classmethod))):
                names.add(name)
    return names - MODULE_BOOKKEEPING


def assert_same_values(plugin, builtin, names):
    for name in sorted(names):
        ours, theirs = getattr(plugin, name), getattr(builtin, name)
        if isinstance(theirs, nn.Module) or theirs is None:
            # e.g. downsample: a module on both sides or None on both
            assert (ours is None) == (theirs is None), name
            if theirs is not None:
                assert isinstance(ours, nn.Module), name
        elif inspect.isclass(theirs):
            # the block class: ours is our own Bottleneck3d
            assert ours.expansion == theirs.expansion, name
        elif name == 'arch_settings':
            # every depth of theirs, with the same blocks per stage (ours
            # has depth 26 besides)
            assert {d: ours[d][1] for d in theirs} == {
                d: s[1] for d, s in theirs.items()}, name
        else:
            assert ours == theirs, (name, ours, theirs)


def paired_blocks(plugin, builtin):
    for name in builtin.res_layers:
        ours, theirs = getattr(plugin, name), getattr(builtin, name)
        assert len(ours) == len(theirs)
        yield from zip(ours, theirs)


@pytest.mark.parametrize('mode', ['ir', 'ip'])
def test_public_attributes_match_the_builtin(mode):
    arch = dict(depth=50, base_channels=8, bottleneck_mode=mode,
                conv_cfg=dict(type='Conv3d'))
    builtin, plugin = builtin_csn(**arch), ResNet3dCSN(**arch)
    theirs = public_attributes(builtin)
    assert theirs - public_attributes(plugin) == set()
    assert_same_values(plugin, builtin, theirs)
    for name in ('depth', 'stage_blocks', 'num_stages', 'inplanes',
                 'stage_inflations', 'non_local_stages', 'conv1_stride_s',
                 'pool1_stride_t', 'with_cp', 'style', 'inflate_style'):
        assert name in theirs  # the comparison covers what matters
    blocks = list(paired_blocks(plugin, builtin))
    assert len(blocks) == 16
    for ours, their_block in blocks:
        theirs = public_attributes(their_block)
        assert theirs - public_attributes(ours) == set(), type(their_block)
        assert_same_values(ours, their_block, theirs)
    # strides and projections sit where the built-in has them
    first = [(o.temporal_stride, o.spatial_stride, o.conv2_stride_t,
              o.downsample is None) for o, _ in blocks]
    assert first[3] == (2, 2, 2, False)  # layer2's first block
    assert first[4] == (1, 1, 1, True)


def test_basic_block_attributes_match_the_builtin():
    """``BasicBlock3d`` (used by the depth-18/34 FactorizedResNet3d): the
    stride on its first conv, as in MMAction2's."""
    kwargs = dict(spatial_stride=2, temporal_stride=2, dilation=1,
                  conv_cfg=dict(type='Conv3d'), norm_cfg=dict(type='BN3d'),
                  act_cfg=dict(type='ReLU'), with_cp=True)
    downsample = nn.Conv3d(8, 16, 1, stride=2)
    builtin = BuiltinBasicBlock3d(8, 16, downsample=downsample, **kwargs)
    ours = BasicBlock3d(8, 16, DenseConv3d, downsample=downsample, **kwargs)
    theirs = public_attributes(builtin)
    assert theirs - public_attributes(ours) == set()
    assert_same_values(ours, builtin, theirs)
    assert (ours.conv1_stride_t, ours.conv1_stride_s) == (2, 2)
    assert ours.conv1[0].stride == (2, 2, 2)
    assert ours.conv2[0].stride == (1, 1, 1)


def test_factorized_backbone_blocks_have_the_attributes():
    model = FactorizedResNet3d(18, conv_type='gc', groups=2, base_channels=8)
    block = model.layer3[0]
    assert (block.inplanes, block.planes) == (16, 32)
    assert (block.spatial_stride, block.temporal_stride) == (2, 2)
    assert block.conv1[0].stride == (2, 2, 2)
    assert model.inplanes == model.feat_dim == 64
    bottleneck = FactorizedResNet3d(26, conv_type='gc', groups=2,
                                    base_channels=8).layer1[0]
    assert bottleneck.bottleneck_mode == 'gc'


# MMAction2's tests/models/backbones/test_resnet3d_csn.py checks these.


def test_bottleneck_mode_is_checked():
    with pytest.raises(ValueError, match='bottleneck_mode'):
        ResNet3dCSN(152, None, bottleneck_mode='id')


def test_bn_frozen_freezes_every_bn():
    model = ResNet3dCSN(152, None, bn_frozen=True, norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns
    for m in bns:
        assert not m.training
        assert all(not p.requires_grad for p in m.parameters())


@pytest.mark.parametrize('mode, units', [('ip', 2), ('ir', 1)])
def test_depthwise_conv_per_block(mode, units):
    model = ResNet3dCSN(152, None, bottleneck_mode=mode)
    model.init_weights()
    model.train()
    assert model.bottleneck_mode == mode
    for i, name in enumerate(model.res_layers):
        layers = getattr(model, name)
        assert len(layers) == model.stage_blocks[i]
        for block in layers:
            assert block.bottleneck_mode == mode
            assert isinstance(block.conv2, nn.Sequential)
            assert len(block.conv2) == units
            assert block.conv2[-1].groups == block.planes
            if mode == 'ip':
                assert block.conv2[0].groups == 1
                assert block.conv2[0].conv.kernel_size == (1, 1, 1)


@pytest.mark.parametrize('mode', ['ip', 'ir'])
def test_feature_shape(mode):
    model = ResNet3dCSN(50, None, bottleneck_mode=mode, base_channels=16)
    model.init_weights()
    model.train()
    with torch.no_grad():
        feat = model(torch.randn(2, 3, 6, 64, 64))
    # MMAction2's test: (2, 2048, 1, 2, 2) at base_channels=64
    assert feat.shape == (2, 512, 1, 2, 2)


def test_train_false_sets_every_child_to_eval():
    model = ResNet3dCSN(50, None, bottleneck_mode='ip', base_channels=16)
    model.init_weights()
    assert model.train(False) is model
    assert all(not m.training for m in model.children())
