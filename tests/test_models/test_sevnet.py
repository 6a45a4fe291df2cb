"""SEVNet: the SEV module's structure (channel-wise 1x1x1, spatial group
conv, temporal conv, each with BN and ReLU, in a residual block), the
pooling downsampler, the SE unit, its arguments and its budget."""
import pytest
import torch
import torch.nn as nn

from csn_plugin.models.backbones import SEVNet
from csn_plugin.models.backbones.sevnet import (SEVBlock, SEVConv3d,
                                               SEVDownsample,
                                               SqueezeExcitation3d)
from csn_plugin.registry import MODELS
from csn_plugin.tools.complexity import count_complexity


def build(device='meta', **kwargs):
    with torch.device(device):
        return MODELS.build(dict(type='SEVNet', **kwargs))


def sev_blocks(model):
    return [m for m in model.modules() if isinstance(m, SEVBlock)]


def test_sev_module_is_channelwise_spatial_grouped_temporal():
    model = build()
    blocks = sev_blocks(model)
    assert len(blocks) == sum(SEVNet.arch_settings['m']['depths'])
    for block in blocks:
        assert isinstance(block.conv, SEVConv3d)
        channelwise, spatial, temporal = block.conv
        width = channelwise.conv.in_channels
        assert channelwise.conv.kernel_size == (1, 1, 1)
        assert channelwise.conv.groups == 1
        assert spatial.conv.kernel_size == (1, 3, 3)
        assert spatial.conv.groups == width // 16
        assert temporal.conv.kernel_size == (3, 1, 1)
        assert temporal.conv.groups == 1
        for unit in block.conv:
            assert unit.conv.out_channels == width
            assert unit.conv.stride == (1, 1, 1)
            assert isinstance(unit.bn, nn.BatchNorm3d)
        # ReLU after the first two; the third's comes after the residual sum
        assert channelwise.with_activation and spatial.with_activation
        assert not temporal.with_activation
        assert block.downsample is None and block.se is None


def test_sev_module_adds_the_residual_then_applies_relu():
    block = build('cpu').layer1[1]
    block.eval()
    x = torch.randn(1, block.conv[0].conv.in_channels, 2, 5, 5)
    assert torch.allclose(block(x), torch.relu(block.conv(x) + x))


def test_downsampling_module_pools_and_widens():
    model = build()
    widths = (32, ) + SEVNet.arch_settings['m']['widths']
    for i in range(4):
        down = getattr(model, f'layer{i + 1}')[0]
        assert isinstance(down, SEVDownsample)
        assert isinstance(down.pool, nn.AvgPool3d)
        assert down.pool.kernel_size == down.pool.stride == (1, 2, 2)
        assert down.conv.conv.kernel_size == (1, 1, 1)
        assert (down.conv.conv.in_channels,
                down.conv.conv.out_channels) == (widths[i], widths[i + 1])
        assert down.conv.with_norm and down.conv.with_activation


def test_downsampling_module_output():
    down = SEVDownsample(4, 8, (2, 2, 2), norm_cfg=dict(type='BN3d'))
    down.eval()
    x = torch.randn(1, 4, 4, 6, 6)
    out = down(x)
    assert out.shape == (1, 8, 2, 3, 3)
    pooled = nn.functional.avg_pool3d(x, 2)
    assert torch.allclose(out, down.conv(pooled))


def test_arguments_reach_the_layers():
    model = build(
        stem_channels=8,
        widths=(16, 32),
        depths=(1, 2),
        spatial_kernel=(3, 3, 3),
        group_width=4,
        temporal_kernel=(5, 1, 1),
        temporal_depthwise=True,
        with_se=True,
        se_reduction=4,
        temporal_strides=(2, 1),
        out_indices=(0, 1))
    assert model.res_layers == ['layer1', 'layer2']
    assert model.layer1[0].pool.kernel_size == (2, 2, 2)
    for block in sev_blocks(model):
        _, spatial, temporal = block.conv
        width = spatial.conv.in_channels
        assert spatial.conv.kernel_size == (3, 3, 3)
        assert spatial.conv.padding == (1, 1, 1)
        assert spatial.conv.groups == width // 4
        assert temporal.conv.kernel_size == (5, 1, 1)
        assert temporal.conv.padding == (2, 0, 0)
        assert temporal.conv.groups == width
        assert isinstance(block.se, SqueezeExcitation3d)
        assert block.se.fc1.conv.out_channels == width // 4
    outs = model(torch.empty(1, 3, 8, 32, 32, device='meta'))
    assert [o.shape for o in outs] == [(1, 16, 4, 8, 8), (1, 32, 4, 4, 4)]


def test_squeeze_excitation_scales_channels():
    se = SqueezeExcitation3d(8, reduction=2)
    x = torch.randn(2, 8, 3, 4, 4)
    weights = se.fc2(se.fc1(x.mean((2, 3, 4), keepdim=True)))
    assert weights.shape == (2, 8, 1, 1, 1)
    assert ((weights > 0) & (weights < 1)).all()
    assert torch.allclose(se(x), x * weights)


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='xl'), "invalid arch 'xl'"),
    (dict(group_width=24), 'group_width=24 must divide'),
    (dict(widths=(16, 32), depths=(1, )),
     'depths must have one entry per stage: 2 for num_stages=2'),
    (dict(widths=(16, 32), depths=(1, 1), spatial_strides=(2, 2, 2)),
     'spatial_strides must have one entry per stage: 2'),
    (dict(out_indices=(4, )),
     'out_indices: 4 is out of range; allowed are the integers 0 to 3'),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises((KeyError, ValueError), match=match):
        build(**kwargs)


@pytest.mark.parametrize('with_se', [False, True])
def test_forward_backward(with_se):
    torch.manual_seed(0)
    model = build(
        'cpu',
        arch='s',
        widths=(16, 32, 32, 64),
        depths=(1, 1, 2, 1),
        with_se=with_se,
        zero_init_residual=False)
    model.init_weights()
    model.train()
    out = model(torch.randn(2, 3, 4, 32, 32))
    assert out.shape == (2, 64, 4, 1, 1)  # time is kept, space / 32
    out.square().mean().backward()
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv3d):
            assert module.weight.grad.abs().sum() > 0, name


def test_zero_init_residual_makes_sev_modules_start_as_identity():
    model = build('cpu', arch='s')
    model.init_weights()
    for block in sev_blocks(model):
        assert block.last_norm is block.conv[-1].bn
        assert block.last_norm.weight.abs().sum() == 0
    block = model.layer2[1]
    block.eval()
    x = torch.rand(1, 96, 2, 4, 4)
    assert torch.equal(block(x), x)


@pytest.mark.parametrize('arch', sorted(SEVNet.arch_settings))
def test_layouts_stay_under_the_papers_35_gflops(arch):
    """The paper compares models under 35 GFLOPs (multiply-adds) on
    Something-Something V2; our layouts fit at 16x224x224."""
    result = count_complexity(build(arch=arch), (1, 3, 16, 224, 224))
    assert result.macs < 35e9
    assert result.linear_macs == 0


def test_default_layout_budget():
    """The 'm' layout: 5.77M params, 17.26 GMACs at 16x224x224."""
    result = count_complexity(build(), (1, 3, 16, 224, 224))
    assert round(result.params / 1e6, 2) == 5.77
    assert round(result.macs / 1e9, 2) == 17.26


def translating_clips(num, generator, frames=8, size=32):
    """Random textures sliding one pixel a frame right, up, left or down
    (label 0-3): no single frame tells the classes apart."""
    labels = torch.randint(0, 4, (num, ), generator=generator)
    margin = frames
    textures = torch.randn(num, 3, size + 2 * margin, size + 2 * margin,
                           generator=generator)
    steps = torch.tensor([[0, 1], [-1, 0], [0, -1], [1, 0]])  # (dy, dx)
    clips = torch.empty(num, 3, frames, size, size)
    for i in range(num):
        for t in range(frames):
            y, x = (steps[labels[i]] * t + margin).tolist()
            clips[i, :, t] = textures[i, :, y:y + size, x:x + size]
    return clips, labels


def test_sevnet_learns_motion_direction():
    """A tiny SEVNet relates frames in time: 60 SGD steps take it from
    chance (0.25) to telling four motion directions apart."""
    torch.manual_seed(1)
    generator = torch.Generator().manual_seed(1)
    backbone = build(
        'cpu',
        stem_channels=8,
        widths=(16, 16, 32, 32),
        depths=(1, 1, 1, 1),
        group_width=8)
    backbone.init_weights()
    model = nn.Sequential(backbone, nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                          nn.Linear(32, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(60):
        clips, labels = translating_clips(8, generator)
        loss = nn.functional.cross_entropy(model(clips), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    clips, labels = translating_clips(64, generator)
    with torch.no_grad():
        accuracy = (model(clips).argmax(1) == labels).float().mean()
    assert accuracy >= 0.9
