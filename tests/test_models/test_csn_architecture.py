"""Architecture facts of ResNet3dCSN from the CSN paper and MMAction2's
models, and the published parameter counts."""
import pytest
import torch
from csn_reference import (I3D_HEAD, PUBLISHED_MILLIONS, bn_layers,
                           use_mmaction_scope)
from mmaction.registry import MODELS

from csn_plugin.models import ResNet3dCSN

STRIDES_T = (1, 2, 2, 2)
STRIDES_S = (1, 2, 2, 2)


def blocks(model):
    for i in range(1, 5):
        yield from getattr(model, f'layer{i}')


@pytest.fixture(scope='module', params=['ir', 'ip'])
def csn50(request):
    return ResNet3dCSN(depth=50, bottleneck_mode=request.param)


@pytest.mark.parametrize('depth, mode', sorted(PUBLISHED_MILLIONS))
def test_published_parameter_counts(depth, mode):
    use_mmaction_scope()
    backbone = ResNet3dCSN(depth=depth, bottleneck_mode=mode)
    head = MODELS.build(I3D_HEAD)
    params = sum(p.numel() for m in (backbone, head) for p in m.parameters())
    assert round(params / 1e6, 2) == PUBLISHED_MILLIONS[depth, mode]


def test_stem(csn50):
    conv = csn50.conv1.conv
    assert conv.in_channels == 3 and conv.out_channels == 64
    assert conv.kernel_size == (3, 7, 7)
    assert conv.stride == (1, 2, 2)
    assert conv.padding == (1, 3, 3)
    assert conv.groups == 1  # dense, not channel-separated
    assert csn50.conv1.with_norm and csn50.conv1.with_activation
    pool = csn50.maxpool
    assert isinstance(pool, torch.nn.MaxPool3d)
    assert pool.kernel_size == (1, 3, 3)
    assert pool.stride == (1, 2, 2)
    assert pool.padding == (0, 1, 1)


def test_strides_sit_on_the_depthwise_conv_of_each_first_block(csn50):
    for i, (t, s) in enumerate(zip(STRIDES_T, STRIDES_S)):
        layer = getattr(csn50, f'layer{i + 1}')
        first = layer[0]
        assert first.conv2[-1].conv.stride == (t, s, s)
        assert first.downsample.conv.stride == (t, s, s)
        assert first.downsample.conv.kernel_size == (1, 1, 1)
        assert first.conv1.conv.stride == (1, 1, 1)
        assert first.conv3.conv.stride == (1, 1, 1)
        for unit in list(first.conv2)[:-1]:
            assert unit.conv.stride == (1, 1, 1)
        for block in layer[1:]:
            assert block.downsample is None
            for m in block.modules():
                if isinstance(m, torch.nn.Conv3d):
                    assert m.stride == (1, 1, 1)


def test_bn_eps_is_1e_3(csn50):
    norms = bn_layers(csn50)
    assert len(norms) > 50
    assert all(m.eps == 1e-3 for m in norms)


def test_3x3x3_conv_is_depthwise(csn50):
    for block in blocks(csn50):
        conv = block.conv2[-1].conv
        assert conv.kernel_size == (3, 3, 3)
        assert conv.padding == (1, 1, 1)
        assert conv.groups == conv.in_channels == conv.out_channels
        assert conv.weight.shape[1] == 1
        assert block.conv2[-1].with_norm and block.conv2[-1].with_activation
        assert not block.conv3.with_activation  # the residual comes first


def test_ip_adds_a_1x1x1_conv_with_bn_and_no_activation():
    ip = ResNet3dCSN(depth=26, bottleneck_mode='ip')
    ir = ResNet3dCSN(depth=26, bottleneck_mode='ir')
    for ip_block, ir_block in zip(blocks(ip), blocks(ir)):
        assert len(ir_block.conv2) == 1
        assert len(ip_block.conv2) == 2
        unit = ip_block.conv2[0]
        assert unit.conv.kernel_size == (1, 1, 1)
        assert unit.conv.groups == 1
        assert unit.conv.in_channels == unit.conv.out_channels
        assert unit.with_norm and unit.bn.eps == 1e-3
        assert not unit.with_activation
        assert unit.conv.bias is None


@pytest.mark.parametrize('depth, stage_blocks', [(26, (2, 2, 2, 2)),
                                                 (50, (3, 4, 6, 3)),
                                                 (101, (3, 4, 23, 3)),
                                                 (152, (3, 8, 36, 3))])
def test_stage_blocks(depth, stage_blocks):
    assert ResNet3dCSN.arch_settings[depth][1] == stage_blocks
    if depth <= 50:  # build the small ones
        model = ResNet3dCSN(depth=depth, base_channels=8)
        assert tuple(len(getattr(model, f'layer{i}'))
                     for i in range(1, 5)) == stage_blocks


def test_with_pool2_defaults_true_and_halves_time():
    x = torch.randn(1, 3, 16, 64, 64)
    pooled = ResNet3dCSN(depth=26, base_channels=8).eval()
    assert pooled.with_pool2 is True
    unpooled = ResNet3dCSN(depth=26, base_channels=8, with_pool2=False).eval()
    unpooled.load_state_dict(pooled.state_dict())
    with torch.no_grad():
        assert pooled(x).shape == (1, 256, 1, 2, 2)
        assert unpooled(x).shape == (1, 256, 2, 2, 2)


def test_out_indices_returns_each_stage():
    model = ResNet3dCSN(
        depth=26, base_channels=8, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 16, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 8, 16, 16),
                                              (1, 64, 4, 8, 8),
                                              (1, 128, 2, 4, 4),
                                              (1, 256, 1, 2, 2)]
