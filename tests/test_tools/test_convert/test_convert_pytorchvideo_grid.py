"""PyTorchVideo's own test grid of create_csn (its tests/test_models_csn.py:
depth 50, stem_dim_out=8, stage_temporal_stride=(1, 2, 2, 1), a head window
fitted to the clip, head_activation=nn.Softmax; 3 channels, clips of 4 and 8
frames, crops of 56 and 64) converts with its arguments to the same
probabilities; without them the converter names the flags it lacks."""
import json

import pytest
import torch
import torch.nn as nn
from convert_sources import (build_converted, logits, max_relative_error,
                             randomize, stand_in_torchvision)
from mmengine.config import Config

from csn_plugin.tools.convert import FORMATS, ConversionError, convert
from csn_plugin.tools.convert.__main__ import main

PTV = FORMATS['pytorchvideo']
GRID = [(t, crop) for t in (4, 8) for crop in (56, 64)]


def grid_args(clip_len, crop):
    """The create_csn arguments of the grid, as JSON (classes by name)."""
    return dict(
        input_channel=3, model_depth=50, model_num_class=400, dropout_rate=0,
        norm='BatchNorm3d', activation='ReLU', stem_dim_out=8,
        stem_conv_kernel_size=[3, 7, 7], stem_conv_stride=[1, 2, 2],
        stage_conv_a_kernel_size=[1, 1, 1],
        stage_conv_b_kernel_size=[3, 3, 3], stage_conv_b_width_per_group=1,
        stage_spatial_stride=[1, 2, 2, 2], stage_temporal_stride=[1, 2, 2, 1],
        bottleneck='create_bottleneck_block', head_pool='AvgPool3d',
        # total strides: 4 in time, 16 in space (stem 2, stages 8)
        head_pool_kernel_size=[clip_len // 4, crop // 16, crop // 16],
        head_output_size=[1, 1, 1], head_activation='Softmax')


@pytest.fixture(scope='module')
def grid_sources(tmp_path_factory):
    """create_csn of each grid point with random weights, saved."""
    with stand_in_torchvision():
        from pytorchvideo.models.csn import create_csn
        from pytorchvideo.models.resnet import create_bottleneck_block
    sources = {}
    out = tmp_path_factory.mktemp('grid')
    for seed, (clip_len, crop) in enumerate(GRID):
        args = grid_args(clip_len, crop)
        classes = dict(norm=nn.BatchNorm3d, activation=nn.ReLU,
                       bottleneck=create_bottleneck_block,
                       head_pool=nn.AvgPool3d, head_activation=nn.Softmax)
        model = randomize(create_csn(**dict(args, **classes)), seed=seed)
        scale_logits(model, clips(clip_len, crop))
        path = out / f'csn_{clip_len}x{crop}.pyth'
        torch.save(dict(model_state=model.state_dict()), path)
        sources[clip_len, crop] = model, str(path)
    return sources


@torch.no_grad()
def scale_logits(model, clip):
    """Scale the projection so that the logits have a standard deviation
    of 2: random deep networks give logits of 1e9, whose softmax is one-hot
    and would hide a wrong head."""
    head = model.blocks[5]
    activation, head.activation = head.activation, None
    std = model(clip).std()
    head.activation = activation
    head.proj.weight.mul_(2 / std)
    head.proj.bias.mul_(2 / std)


def clips(clip_len, crop):
    gen = torch.Generator().manual_seed(clip_len + crop)
    return torch.rand(2, 3, clip_len, crop, crop, generator=gen)


def check_converted(source, cfg_path, dst, clip, deploy=False):
    """The converted model's scores are create_csn's, within 1e-4 relative
    (also with BN folded into the convs, as mim test runs, if ``deploy``)."""
    with torch.no_grad():
        expected = source(clip)
    # create_csn's softmax: rows of probabilities, far from one-hot
    assert torch.allclose(expected.sum(1), torch.ones(2), atol=1e-5)
    assert expected.max() < 0.5
    model = build_converted(cfg_path, dst)
    assert max_relative_error(logits(model, clip), expected) < 1e-4
    if deploy:
        model.backbone.switch_to_deploy()
        assert max_relative_error(logits(model, clip), expected) < 1e-4
    return model, expected


@pytest.mark.parametrize('clip_len, crop', GRID)
def test_grid_with_create_csn_args(grid_sources, tmp_path, clip_len, crop):
    source, path = grid_sources[clip_len, crop]
    dst, cfg_path = str(tmp_path / 'out.pth'), str(tmp_path / 'out.py')
    result = convert(PTV, path, dst, config=cfg_path,
                     create_csn_args=grid_args(clip_len, crop),
                     clip_size=(clip_len, crop, crop))
    cfg = Config.fromfile(cfg_path)
    assert list(cfg.model.backbone.temporal_strides) == [1, 2, 2, 1]
    assert cfg.model.backbone.with_pool1 is False
    assert cfg.model.cls_head.activation == 'softmax'
    assert cfg.model.cls_head.average_clips == 'score'
    assert list(cfg.model.cls_head.pool_size) == [
        clip_len // 4, crop // 16, crop // 16]
    report = '\n'.join(result.report())
    assert ('temporal strides: (1, 2, 2, 1) (given: --create-csn-args)'
            in report)
    assert 'head activation: softmax (given: --create-csn-args)' in report
    assert ("stem max-pool: off (assumed: create_csn's default "
            "(pytorchvideo 0.1.5))" in report)
    model, expected = check_converted(source, cfg_path, dst,
                                      clips(clip_len, crop))
    if crop == 56:
        # 4x4 features, 3x3 window: the softmax at each of the 2x2 window
        # positions, then the mean, is not the softmax of the mean.
        model.cls_head.activation = None
        clip = clips(clip_len, crop)
        assert max_relative_error(
            logits(model, clip).softmax(1), expected) > 1e-3


def test_grid_with_flags(grid_sources, tmp_path, capsys):
    """The command line with the individual flags; the report says what
    was given."""
    source, path = grid_sources[8, 56]
    dst, cfg_path = str(tmp_path / 'out.pth'), str(tmp_path / 'out.py')
    assert main(['pytorchvideo', path, dst, '--config', cfg_path,
                 '--no-stem-pool', '--head-pool', '2', '3', '3',
                 '--temporal-strides', '1', '2', '2', '1',
                 '--head-activation', 'softmax',
                 '--clip-size', '8', '56', '56']) == 0
    out = capsys.readouterr().out
    assert 'not in the weights (given or assumed):' in out
    assert ('temporal strides: (1, 2, 2, 1) (given: --temporal-strides)'
            in out)
    assert 'head activation: softmax (given: --head-activation)' in out
    assert ('checked: the head window (2, 3, 3) fits the (2, 4, 4) '
            'features of a 8x56x56 clip (--clip-size)' in out)
    check_converted(source, cfg_path, dst, clips(8, 56), deploy=True)


def test_missing_flags_are_named(grid_sources, tmp_path, capsys):
    _, path = grid_sources[8, 56]
    with pytest.raises(ConversionError, match=(
            r"csn_8x56.pyth: ir-CSN-50 with stem width 8 and 400 classes is "
            r"not the hub's csn_r101 \(ir-CSN-101, stem width 64, 400 "
            r"classes\), whose create_csn arguments are known, so the weights "
            r"do not say stem max-pool, head pooling, temporal strides, head "
            r"activation: pass "
            r"--stem-pool / --no-stem-pool, --head-pool, --temporal-strides, "
            r"--head-activation \(or --create-csn-args")):
        convert(PTV, path)
    with pytest.raises(ConversionError, match=(
            r'do not say temporal strides: pass --temporal-strides \(')):
        convert(PTV, path, with_pool1=False, head_pool=(2, 3, 3),
                head_activation='softmax')
    assert main(['pytorchvideo', path, str(tmp_path / 'o.pth'),
                 '--no-stem-pool', '--head-pool', '2', '3', '3',
                 '--temporal-strides', '1', '2', '2', '1']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'pass --head-activation' in err
    assert not (tmp_path / 'o.pth').exists()


def test_wrong_strides_fail_at_the_head_check(grid_sources):
    """create_csn's default strides (1, 2, 2, 2) leave 1 frame of an
    8-frame clip: smaller than the (2, 3, 3) window."""
    _, path = grid_sources[8, 56]
    with pytest.raises(ConversionError, match=(
            r'the feature map \(1, 4, 4\) of a 8x56x56 clip \(--clip-size\) '
            r'is smaller than the head pooling window \(2, 3, 3\).*temporal '
            r'strides \(1, 2, 2, 2\) \(given: --temporal-strides\)')):
        convert(PTV, path, clip_size=(8, 56, 56), with_pool1=False,
                head_pool=(2, 3, 3), temporal_strides=(1, 2, 2, 2),
                head_activation='softmax')
    args = grid_args(8, 56)
    del args['stage_temporal_stride']
    with pytest.raises(ConversionError, match=(
            r"temporal strides \(1, 2, 2, 2\) \(given: --temporal-strides")):
        convert(PTV, path, clip_size=(8, 56, 56), create_csn_args=args,
                temporal_strides=(1, 2, 2, 2))


def test_version_dependent_defaults_must_be_named(grid_sources):
    """create_csn's defaults of stage_temporal_stride and head_activation
    changed between pytorchvideo sources: --create-csn-args must name them
    (or the flags give them)."""
    _, path = grid_sources[8, 56]
    args = grid_args(8, 56)
    del args['stage_temporal_stride'], args['head_activation']
    with pytest.raises(ConversionError, match=(
            r'--create-csn-args does not name stage_temporal_stride, '
            r'head_activation, whose create_csn default differs between '
            r'pytorchvideo versions, and the weights do not say: name it or '
            r'pass --temporal-strides, --head-activation')):
        convert(PTV, path, create_csn_args=args)
    result = convert(PTV, path, create_csn_args=args, clip_size=(8, 56, 56),
                     temporal_strides=(1, 2, 2, 1), head_activation='softmax')
    assert result.spec.temporal_strides == (1, 2, 2, 1)


def test_create_csn_args_errors(grid_sources):
    _, path = grid_sources[4, 64]
    args = grid_args(4, 64)
    with pytest.raises(ConversionError, match='create_csn .* has no argument '
                       'input_clip_length'):
        convert(PTV, path, create_csn_args=dict(args, input_clip_length=4))
    with pytest.raises(ConversionError, match=r'model_depth=101 but the '
                       r'weights hold model_depth=50'):
        convert(PTV, path, create_csn_args=dict(args, model_depth=101))
    with pytest.raises(ConversionError, match=r'stage_spatial_stride=\[1, 1, '
                       r'2, 2\]: the plugin.s ResNet3dCSN and heads build '
                       r'only stage_spatial_stride=\(1, 2, 2, 2\)'):
        convert(PTV, path, create_csn_args=dict(
            args, stage_spatial_stride=[1, 1, 2, 2]))
    with pytest.raises(ConversionError, match=r'temporal strides: '
                       r'--temporal-strides says \(1, 2, 2, 2\), '
                       r'--create-csn-args \(1, 2, 2, 1\)'):
        convert(PTV, path, create_csn_args=args,
                temporal_strides=(1, 2, 2, 2))
    with pytest.raises(ConversionError, match='--create-csn-args is for the '
                       'pytorchvideo format, not vmz'):
        convert(FORMATS['vmz'], path, create_csn_args=args)
    assert json.loads(json.dumps(args)) == args  # what the CLI takes
