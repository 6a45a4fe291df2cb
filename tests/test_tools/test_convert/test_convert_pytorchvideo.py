"""PyTorchVideo -> MMAction2: pytorchvideo 0.1.5's own create_csn, with
random weights, against the converted recognizer; the hub csn_r101's
network is the shipped ircsn_pytorchvideo_r101 config."""
import pytest
import torch
import torch.nn as nn
from convert_sources import (build_converted, logits, max_relative_error,
                             randomize, stand_in_torchvision)
from mmengine.config import Config

from csn_plugin.tools.convert import FORMATS, ConversionError, convert

PTV = FORMATS['pytorchvideo']


@pytest.fixture(scope='module')
def create_csn():
    with stand_in_torchvision():
        from pytorchvideo.models.csn import create_csn
        yield create_csn


@pytest.fixture(scope='module')
def ptv_file(create_csn, tmp_path_factory):
    """create_csn at its defaults (no stem pool) but quarter width and a
    (1, 2, 2) head window, saved as PySlowFast saves (model_state)."""
    model = randomize(
        create_csn(model_depth=50, stem_dim_out=16, model_num_class=400,
                   head_pool_kernel_size=(1, 2, 2)), seed=3)
    path = tmp_path_factory.mktemp('ptv') / 'csn_r50.pyth'
    torch.save(dict(model_state=model.state_dict(), epoch=10), path)
    return model, path


def test_logits_match(ptv_file, tmp_path):
    source, path = ptv_file
    dst, cfg_path = str(tmp_path / 'out.pth'), str(tmp_path / 'out.py')
    result = convert(PTV, str(path), dst, config=cfg_path, with_pool1=False,
                     head_pool=(1, 2, 2), temporal_strides=(1, 2, 2, 2),
                     head_activation='none')
    assert (result.spec.mode, result.spec.depth) == ('ir', 50)
    assert result.spec.base_channels == 16 and result.spec.norm_eps == 1e-5
    assert result.unused == ['epoch (top-level entry)']
    cfg = Config.fromfile(cfg_path)
    assert cfg.model.backbone.norm_cfg.eps == 1e-5
    assert cfg.model.backbone.with_pool1 is False
    assert cfg.model.cls_head.type == 'FixedPoolI3DHead'
    model = build_converted(cfg, dst)
    # 8 x 48^2, stride 16 without the stem pool: 1x3x3 features, so the
    # (1, 2, 2) window weighs the centre 4 times, the corners once.
    clip = torch.randn(1, 3, 8, 48, 48,
                       generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = source(clip)
    assert max_relative_error(logits(model, clip), expected) < 1e-5
    # mim test folds BN into the convs (switch_to_deploy), with eps 1e-5
    model.backbone.switch_to_deploy()
    assert max_relative_error(logits(model, clip), expected) < 1e-5
    # The test can fail: MMAction2's BN eps or global pooling do not match.
    cfg.model.backbone.norm_cfg.eps = 1e-3
    assert max_relative_error(logits(build_converted(cfg, dst), clip),
                              expected) > 1e-3
    cfg = Config.fromfile(cfg_path)
    cfg.model.cls_head = dict(type='I3DHead', num_classes=400,
                              in_channels=512)
    assert max_relative_error(logits(build_converted(cfg, dst), clip),
                              expected) > 1e-3


def test_hub_csn_r101_is_the_shipped_config(create_csn, tmp_path):
    """The hub's create_csn(101, MaxPool3d, (4, 7, 7)): keys, shapes and
    config without a forward pass."""
    model = create_csn(model_depth=101, stem_pool=nn.MaxPool3d,
                       head_pool_kernel_size=(4, 7, 7))
    path = tmp_path / 'CSN_32x2_R101.pyth'
    torch.save(dict(model_state=model.state_dict()), path)
    result = convert(PTV, str(path))
    assert result.spec.name == 'ir-CSN-101'
    assert result.spec.stage_blocks == (3, 4, 23, 3)
    assert result.base_config.endswith(
        'ircsn_pytorchvideo_r101_32x2x1_kinetics400.py')
    assert result.differences == []
    assert len(result.state_dict) == len(model.state_dict()) == 626
    # 22.21M parameters, as PyTorchVideo's model zoo lists
    params = sum(v.numel() for k, v in result.state_dict.items()
                 if not k.endswith(('running_mean', 'running_var',
                                    'num_batches_tracked')))
    assert round(params / 1e6, 2) == 22.21


def test_errors(create_csn, ptv_file, tmp_path):
    source, path = ptv_file
    data = path.read_bytes()
    (tmp_path / 'cut.pyth').write_bytes(data[:-100])
    with pytest.raises(ConversionError, match=r'cut.pyth: .*truncated'):
        convert(PTV, str(tmp_path / 'cut.pyth'))

    (tmp_path / 'blobs.pkl').write_bytes(
        __import__('pickle').dumps(dict(blobs={'conv1_w': [1.0]})))
    with pytest.raises(ConversionError,
                       match=r"blobs.pkl: .*a pickle.*'vmz-caffe2'"):
        convert(PTV, str(tmp_path / 'blobs.pkl'))

    # a VMZ state dict given to the wrong converter
    torch.save({'stem.0.weight': torch.zeros(64, 3, 3, 7, 7)},
               tmp_path / 'vmz.pth')
    with pytest.raises(ConversionError,
                       match=r"vmz.pth: unknown layout: no 'blocks.0.conv."
                       r"weight'.*look like the 'vmz' format"):
        convert(PTV, str(tmp_path / 'vmz.pth'))

    # a dense 3x3x3 conv_b: a ResNet3D, not a CSN
    dense = create_csn(model_depth=50, stem_dim_out=8,
                       stage_conv_b_width_per_group=8)
    torch.save(dense.state_dict(), tmp_path / 'dense.pth')
    with pytest.raises(ConversionError,
                       match=r'dense.pth: unknown layout: blocks.1.res_blocks'
                       r'.0.branch2.conv_b.weight has shape'):
        convert(PTV, str(tmp_path / 'dense.pth'))
