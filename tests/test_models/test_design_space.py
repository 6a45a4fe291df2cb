"""The CSN paper's design space: FactorizedResNet3d at every depth and conv
type, checked against the paper's Table 1 and Sec. 3-4 (Tran et al., ICCV
2019).

Structure tests build full-width networks on the ``meta`` device (no memory,
no compute); forward and backward passes run narrow networks on small clips.
"""
import pytest
import torch
import torch.nn as nn

from csn_plugin.models.backbones import FactorizedResNet3d, ResNet3dCSN
from csn_plugin.models.blocks import BasicBlock3d, Bottleneck3d

SIMPLE = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
BOTTLENECK = {
    26: (2, 2, 2, 2),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3)
}
DEPTHS = sorted(SIMPLE) + sorted(BOTTLENECK)
CONV_TYPES = ('3d', 'gc', 'ip', 'ir')


def build(depth, conv_type, device='meta', **kwargs):
    if conv_type == 'gc':
        kwargs.setdefault('groups', 8)
    with torch.device(device):
        return FactorizedResNet3d(depth, conv_type=conv_type, **kwargs)


def blocks(model):
    """(stage index, block index, block) of every residual block."""
    for i, name in enumerate(model.res_layers):
        for j, block in enumerate(getattr(model, name)):
            yield i, j, block


def spatiotemporal_convs(block):
    """The convs at the block's 3x3x3 positions (built by its builder)."""
    builders = ([block.conv1, block.conv2]
                if isinstance(block, BasicBlock3d) else [block.conv2])
    return [unit.conv for builder in builders for unit in builder]


@pytest.mark.parametrize('depth', DEPTHS)
def test_block_type_and_stage_blocks_follow_depth(depth):
    model = build(depth, '3d')
    simple = depth in SIMPLE
    assert model.stage_blocks == (SIMPLE if simple else BOTTLENECK)[depth]
    expected = BasicBlock3d if simple else Bottleneck3d
    assert all(type(b) is expected for _, _, b in blocks(model))
    assert model.feat_dim == (512 if simple else 2048)
    # stage widths: 64, 128, 256, 512 (x4 at a bottleneck's output)
    for i, j, block in blocks(model):
        last = block.conv2[-1] if simple else block.conv3
        assert last.conv.out_channels == 64 * 2**i * (1 if simple else 4)


@pytest.mark.parametrize('depth', DEPTHS)
def test_dense_3d_convs(depth):
    model = build(depth, '3d')
    for _, _, block in blocks(model):
        for conv in spatiotemporal_convs(block):
            assert conv.kernel_size == (3, 3, 3)
            assert conv.groups == 1


@pytest.mark.parametrize('groups', [2, 8, 32])
@pytest.mark.parametrize('depth', [18, 50])
def test_gc_convs_have_the_given_groups(depth, groups):
    model = build(depth, 'gc', groups=groups)
    convs = [c for _, _, b in blocks(model) for c in spatiotemporal_convs(b)]
    assert convs and all(c.groups == groups for c in convs)
    assert all(c.kernel_size == (3, 3, 3) for c in convs)


def test_gc_groups_must_divide_channels():
    with pytest.raises(ValueError, match='groups=3 must divide'):
        build(18, 'gc', groups=3)


def test_groups_only_apply_to_gc():
    with pytest.raises(ValueError, match="only applies to conv_type='gc'"):
        FactorizedResNet3d(18, conv_type='ir', groups=4)


@pytest.mark.parametrize('depth', DEPTHS)
def test_ir_convs_are_depthwise(depth):
    model = build(depth, 'ir')
    for i, j, block in blocks(model):
        convs = spatiotemporal_convs(block)
        # ir: one unit per 3x3x3 position, no extra 1x1x1
        assert len(convs) == (2 if depth in SIMPLE else 1)
        for conv in convs:
            assert conv.kernel_size == (3, 3, 3)
            assert conv.groups == conv.in_channels
            # each output channel sees one input channel; a simple stage's
            # first conv doubles the width with channel multiplier 2
            assert conv.out_channels in (conv.in_channels,
                                         2 * conv.in_channels)


@pytest.mark.parametrize('depth', DEPTHS)
def test_ip_has_a_1x1x1_before_each_depthwise_conv(depth):
    model = build(depth, 'ip')
    for _, _, block in blocks(model):
        builders = ([block.conv1, block.conv2]
                    if depth in SIMPLE else [block.conv2])
        for builder in builders:
            assert len(builder) == 2
            pointwise, depthwise = builder[0], builder[1]
            assert pointwise.conv.kernel_size == (1, 1, 1)
            assert pointwise.conv.groups == 1
            assert pointwise.with_norm and not pointwise.with_activation
            assert depthwise.conv.kernel_size == (3, 3, 3)
            assert depthwise.conv.groups == depthwise.conv.in_channels
            assert depthwise.conv.out_channels == depthwise.conv.in_channels


@pytest.mark.parametrize('conv_type', CONV_TYPES)
@pytest.mark.parametrize('depth', [18, 50])
def test_strides_land_where_the_paper_puts_them(depth, conv_type):
    """Table 1: conv1 and the stem pool halve space; res3, res4 and res5
    halve time and space in their first block's 3x3x3 conv and shortcut."""
    model = build(depth, conv_type)
    assert model.conv1.conv.kernel_size == (3, 7, 7)
    assert model.conv1.conv.stride == (1, 2, 2)
    assert model.maxpool.stride == (1, 2, 2)
    assert not model.with_pool2
    for i, j, block in blocks(model):
        expected = (2, 2, 2) if i > 0 and j == 0 else (1, 1, 1)
        convs = spatiotemporal_convs(block)
        # the stride sits on the first 3x3x3 conv (ip: its depthwise conv)
        strided = convs[1] if conv_type == 'ip' else convs[0]
        assert strided.stride == expected
        assert all(c.stride == (1, 1, 1) for c in convs if c is not strided)
        if isinstance(block, Bottleneck3d):
            assert block.conv1.conv.stride == (1, 1, 1)
            assert block.conv3.conv.stride == (1, 1, 1)
        if j == 0 and (i > 0 or isinstance(block, Bottleneck3d)):
            assert block.downsample.conv.kernel_size == (1, 1, 1)
            assert block.downsample.conv.stride == expected
        else:
            assert block.downsample is None


@pytest.mark.parametrize('depth', [18, 152])
def test_output_resolution_is_t8_and_7x7(depth):
    """res5 is T/8 x 7 x 7 for a T x 224 x 224 clip (Table 1)."""
    model = build(depth, 'ir')
    out = model(torch.empty(1, 3, 32, 224, 224, device='meta'))
    assert out.shape == (1, model.feat_dim, 4, 7, 7)


@pytest.mark.parametrize('mode', ['ip', 'ir'])
@pytest.mark.parametrize('depth', sorted(BOTTLENECK))
def test_bottleneck_ip_ir_match_resnet3dcsn(depth, mode):
    """The design space's bottleneck ip/ir networks are ResNet3dCSN's, key
    for key, shape for shape."""
    with torch.device('meta'):
        csn = ResNet3dCSN(depth, bottleneck_mode=mode, with_pool2=False)
    ours = build(depth, mode)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in csn.state_dict().items()
    }


def test_resnet3dcsn_keeps_mmaction2_temporal_pool_default():
    with torch.device('meta'):
        assert ResNet3dCSN(50).with_pool2
    assert not build(50, 'ir').with_pool2


def test_unknown_depth_and_conv_type_raise():
    with pytest.raises(KeyError, match='invalid depth 20'):
        FactorizedResNet3d(20)
    with pytest.raises(ValueError, match="conv type must be one of"):
        FactorizedResNet3d(18, conv_type='2plus1d')


@pytest.mark.parametrize('conv_type', CONV_TYPES)
@pytest.mark.parametrize('depth', DEPTHS)
def test_forward_backward_every_variant(depth, conv_type):
    """Every variant runs forward and backward on a small clip. The deep
    networks are narrowed (base_channels) to keep the test fast; the
    structure does not depend on the width."""
    torch.manual_seed(0)
    base = 16 if depth in (18, 34, 26, 50) else 8
    model = build(
        depth,
        conv_type,
        device='cpu',
        base_channels=base,
        zero_init_residual=False,  # so that every branch gets gradients
        **(dict(groups=4) if conv_type == 'gc' else {}))
    model.init_weights()
    model.train()
    x = torch.randn(2, 3, 4, 32, 32)
    out = model(x)
    # time: 4 -> 4, 2, 1, 1 (stride 2 on 1 frame keeps 1); space: 32 -> 1
    assert out.shape == (2, model.feat_dim, 1, 1, 1)
    out.square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    # Every conv learns. (Not every BN bias: in ip, the 1x1x1 conv's BN bias
    # is a per-channel shift that the depthwise conv's BN removes again.)
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv3d):
            assert module.weight.grad.abs().sum() > 0, name


def test_zero_init_residual_makes_blocks_start_as_identity():
    model = build(26, 'ip', device='cpu', base_channels=8)
    model.init_weights()
    for _, _, block in blocks(model):
        assert block.last_norm.weight.abs().sum() == 0
        assert isinstance(block.last_norm, nn.BatchNorm3d)
