"""Every design-space and SEVNet config parses and builds its model; the
model files match their names; the training recipes are the intended ones."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from csn_plugin.models.backbones import (FactorizedResNet3d, ResNet3dCSN,
                                         SEVNet)
from csn_plugin.tools.complexity import build_on_meta

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'configs')
DESIGN_SPACE = sorted(glob.glob(osp.join(CONFIGS, 'design_space', '*.py')))
SEVNET = sorted(glob.glob(osp.join(CONFIGS, 'sevnet', 'sevnet_u16_*.py')))
SEVNET_MOTION = osp.join(CONFIGS, 'sevnet', 'sevnet_s_8x112_motion.py')
FAMILIES = {'r3d': '3d', 'gccsn': 'gc', 'ipcsn': 'ip', 'ircsn': 'ir'}
DEPTHS = (18, 34, 26, 50, 101, 152)
CUSTOM_IMPORTS = dict(imports=['csn_plugin'], allow_failed_imports=False)
VMZ_MEAN = [110.2008, 100.63983, 95.99475]
VMZ_STD = [58.14765, 56.46975, 55.332195]


def model_file(name):
    return osp.join(CONFIGS, '_base_', 'models', f'{name}.py')


@pytest.mark.parametrize('family', sorted(FAMILIES))
@pytest.mark.parametrize('depth', DEPTHS)
def test_model_file_builds_the_variant_it_names(family, depth):
    cfg = Config.fromfile(model_file(f'{family}_r{depth}'))
    model = build_on_meta(cfg.model)
    backbone = model.backbone
    assert isinstance(backbone, FactorizedResNet3d)
    assert backbone.depth == depth
    assert backbone.conv_type == FAMILIES[family]
    assert not backbone.with_pool2
    # the bottleneck ip/ir networks are MMAction2's ResNet3dCSN
    bottleneck = depth not in (18, 34)
    assert isinstance(backbone, ResNet3dCSN) == (
        bottleneck and family in ('ipcsn', 'ircsn'))
    if family == 'gccsn':
        assert backbone.layer1[0].conv2[0].conv.groups == 8
    assert model.cls_head.in_channels == backbone.feat_dim
    assert model.cls_head.num_classes == 400


@pytest.mark.parametrize('arch', ['s', 'm', 'l'])
def test_sevnet_model_files(arch):
    name = {'s': 'sevnet_s', 'm': 'sevnet', 'l': 'sevnet_l'}[arch]
    model = build_on_meta(Config.fromfile(model_file(name)).model)
    assert isinstance(model.backbone, SEVNet)
    assert model.backbone.arch == arch
    assert model.cls_head.in_channels == model.backbone.feat_dim


def test_every_model_file_has_a_kinetics_config():
    """The design space's from-scratch Kinetics-400 configs; those of ip-
    and ir-CSN-152 are the published recipes at the top of configs/."""
    suffix = '_32x2x1_180e_kinetics400.py'
    names = {f'{family}_r{depth}' for family in FAMILIES for depth in DEPTHS}
    configs = {osp.basename(p)[:-len(suffix)] for p in DESIGN_SPACE}
    assert configs == names - {'ipcsn_r152', 'ircsn_r152'}
    for name in ('ipcsn_r152', 'ircsn_r152'):
        assert osp.isfile(osp.join(CONFIGS, name + suffix))


@pytest.mark.parametrize(
    'path', DESIGN_SPACE, ids=[osp.basename(p) for p in DESIGN_SPACE])
def test_design_space_kinetics_config(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == CUSTOM_IMPORTS
    name = osp.basename(path).split('_32x2x1')[0]
    model = Config.fromfile(model_file(name)).model
    # from scratch, with VMZ's input statistics, as the published recipes
    model.data_preprocessor.update(mean=VMZ_MEAN, std=VMZ_STD)
    model.backbone.zero_init_residual = True
    assert cfg.model == model
    sample = cfg.train_dataloader.dataset.pipeline[1]
    assert (sample.type, sample.clip_len, sample.frame_interval) == (
        'SampleFrames', 32, 2)
    assert cfg.train_cfg.max_epochs == 180
    build_on_meta(cfg.model)


@pytest.mark.parametrize('path', SEVNET, ids=[osp.basename(p) for p in SEVNET])
def test_sevnet_config(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == CUSTOM_IMPORTS
    model = build_on_meta(cfg.model)
    assert isinstance(model.backbone, SEVNet)
    # the paper's recipe: from scratch, SGD lr 0.01, cosine, 64 epochs,
    # dropout 0.2 on large data sets
    assert cfg.model.backbone.get('init_cfg') is None
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert [s.type for s in cfg.param_scheduler] == ['CosineAnnealingLR']
    assert cfg.param_scheduler[0].T_max == cfg.train_cfg.max_epochs == 64
    assert cfg.model.cls_head.dropout_ratio == 0.2
    for loader in ('train', 'val', 'test'):
        pipeline = cfg[f'{loader}_dataloader'].dataset.pipeline
        sample = pipeline[1]
        assert (sample.type, sample.clip_len) == ('UniformSample', 16)
        assert sample.get('test_mode', False) == (loader != 'train')
    flips = [t for t in cfg.train_dataloader.dataset.pipeline
             if t.type == 'Flip']
    if 'sthv2' in path:
        assert model.cls_head.num_classes == 174
        # left-to-right and right-to-left are different classes
        assert not flips
        assert 'sthv2' in cfg.train_dataloader.dataset.ann_file
    else:
        assert model.cls_head.num_classes == 400
        assert flips
        assert 'kinetics400' in cfg.train_dataloader.dataset.ann_file


def test_sevnet_motion_config():
    """The quick-start SEVNet: the generated motion data, no flips (they
    would turn one class into another), the quickstart's schedule (AdamW,
    one warm-up epoch, cosine to epoch 12)."""
    cfg = Config.fromfile(SEVNET_MOTION)
    assert cfg.custom_imports == CUSTOM_IMPORTS
    model = build_on_meta(cfg.model)
    assert isinstance(model.backbone, SEVNet) and model.backbone.arch == 's'
    assert model.cls_head.num_classes == 4
    assert 'motion' in cfg.train_dataloader.dataset.ann_file
    assert all(t.type != 'Flip' for t in cfg.train_dataloader.dataset.pipeline)
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-3,
                                               weight_decay=1e-4)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 1)
    assert cosine.type == 'CosineAnnealingLR'
    assert cosine.end == cfg.train_cfg.max_epochs == 12
    assert cosine.begin + cosine.T_max == cosine.end
    quickstart = Config.fromfile(osp.join(CONFIGS,
                                          'ircsn_r26_8x112_motion.py'))
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert cfg[key] == quickstart[key]
