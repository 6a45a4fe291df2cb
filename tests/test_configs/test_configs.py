"""The shipped configs load, build the plugin's models, and carry the
published recipe facts."""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmaction
from csn_plugin.models import ResNet3dCSN

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')))
MMACTION_CSN = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition', 'csn')
IMAGENET_MEAN = [123.675, 116.28, 103.53]
VMZ_MEAN = [110.2008, 100.63983, 95.99475]
VMZ_STD = [58.14765, 56.46975, 55.332195]
PYSLOWFAST_MEAN = [114.75] * 3  # DATA.MEAN 0.45, DATA.STD 0.225
PYSLOWFAST_STD = [57.375] * 3


def load(name):
    return Config.fromfile(osp.join(REPO, 'configs', name))


def published_urls():
    """Every checkpoint URL in MMAction2's own CSN configs."""
    text = ''.join(
        open(p).read() for p in glob.glob(osp.join(MMACTION_CSN, '*.py')))
    text = re.sub(r"'\s*\n\s*'", '', text)  # join split string literals
    return set(re.findall(r'https://[^\'"\s]+\.pth', text))


def test_there_are_configs():
    names = {osp.basename(p) for p in CONFIGS}
    assert 'ircsn_ig65m_r152_32x2x1_kinetics400.py' in names
    assert len(names) >= 13


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_plugin_model(path):
    from mmaction.registry import MODELS
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    assert cfg.custom_imports == dict(
        imports=['csn_plugin'], allow_failed_imports=False)
    assert cfg.model.backbone.type == 'ResNet3dCSN'
    model = MODELS.build(cfg.model)
    assert type(model.backbone) is ResNet3dCSN
    assert model.cls_head.in_channels == model.backbone.feat_dim
    assert cfg.model.data_preprocessor.format_shape == 'NCTHW'
    pretrained = cfg.model.backbone.pretrained
    if pretrained is not None:
        assert pretrained in published_urls(), pretrained


@pytest.mark.parametrize('path', [
    p for p in CONFIGS if 'kinetics400' in p or 'sports1m' in p
], ids=osp.basename)
def test_recipe_facts(path):
    cfg = Config.fromfile(path)
    name = osp.basename(path)
    backbone = cfg.model.backbone
    assert backbone.bottleneck_mode == name[:2]
    assert (backbone.norm_eval, backbone.bn_frozen) == (('bnfrozen' in name),
                                                        ('bnfrozen' in name))
    mean = cfg.model.data_preprocessor.mean
    if 'ig65m' in name:
        assert mean == IMAGENET_MEAN
        assert backbone.pretrained.endswith('.pth')
        assert '_ig65m_' in backbone.pretrained
    elif 'pytorchvideo' in name:  # converted weights, see its header
        assert mean == PYSLOWFAST_MEAN
        assert cfg.model.data_preprocessor.std == PYSLOWFAST_STD
        assert backbone.pretrained is None
        assert backbone.norm_cfg.eps == 1e-5
        assert cfg.model.cls_head.pool_size == (4, 7, 7)
    else:  # Sports-1M-pretrained or from scratch: VMZ statistics
        assert mean == VMZ_MEAN
        assert cfg.model.data_preprocessor.std == VMZ_STD
    if name.startswith(('ircsn_r152', 'ipcsn_r152')):
        assert backbone.pretrained is None
        assert cfg.train_cfg.max_epochs == 180
    else:
        assert cfg.train_cfg.max_epochs == 58
        assert cfg.optim_wrapper.optimizer.lr == 5e-4
        scheduler = cfg.param_scheduler
        assert scheduler[0].type == 'LinearLR' and scheduler[0].end == 16
        assert scheduler[1].milestones == [32, 48]
    assert cfg.optim_wrapper.clip_grad.max_norm == 40
    assert cfg.auto_scale_lr.base_batch_size == 96
    classes = 487 if name.endswith('sports1m.py') else 400
    assert cfg.model.cls_head.num_classes == classes
    assert cfg.model.cls_head.average_clips == 'prob'
    assert cfg.model.cls_head.dropout_ratio == 0.5


def test_kinetics_pipelines():
    cfg = load('ircsn_ig65m_r152_32x2x1_kinetics400.py')
    train = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert train == [
        'DecordInit', 'SampleFrames', 'DecordDecode', 'Resize',
        'RandomResizedCrop', 'Resize', 'Flip', 'FormatShape',
        'PackActionInputs'
    ]
    sample = cfg.train_dataloader.dataset.pipeline[1]
    assert sample.clip_len == 32 and sample.frame_interval == 2
    assert sample.num_clips == 1
    val = cfg.val_dataloader.dataset.pipeline
    assert val[1].num_clips == 1 and val[4].type == 'CenterCrop'
    assert val[4].crop_size == 224
    test = cfg.test_dataloader.dataset.pipeline
    assert test[1].num_clips == 10
    assert (test[4].type, test[4].crop_size) == ('ThreeCrop', 256)
    assert cfg.train_dataloader.dataset.ann_file.startswith(
        'data/kinetics400/')


def test_sports1m_dataset_paths():
    cfg = load('ircsn_r152_32x2x1_180e_sports1m.py')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.ann_file.startswith('data/sports1m/')
        assert dataset.data_prefix.video.startswith('data/sports1m/')


def test_ipcsn_base_model():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', 'ipcsn_r152.py'))
    assert cfg.model.backbone.bottleneck_mode == 'ip'
    assert cfg.model.backbone.depth == 152


def test_motion_config_has_no_flip():
    """The motion classes differ by direction; a flip would swap them."""
    cfg = load('ircsn_r26_8x112_motion.py')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        types = [t.type for t in cfg[loader].dataset.pipeline]
        assert 'Flip' not in types
    assert cfg.model.backbone.depth == 26
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'


def test_syncbn_override_keeps_eps():
    """The documented multi-GPU switch, --cfg-options
    model.backbone.norm_cfg.type=SyncBN, keeps the CSN models' BN eps; a
    single-process run turns the layers back into BN, as mmengine's runner
    does."""
    from mmaction.registry import MODELS
    from mmengine.model import revert_sync_batchnorm
    from torch import nn
    cfg = load('ircsn_r26_8x112_motion.py')
    cfg.merge_from_dict({'model.backbone.norm_cfg.type': 'SyncBN'})
    init_default_scope(cfg.default_scope)
    backbone = MODELS.build(cfg.model).backbone
    norms = [m for m in backbone.modules() if isinstance(m, nn.SyncBatchNorm)]
    assert len(norms) > 0 and all(m.eps == 1e-3 for m in norms)
    backbone = revert_sync_batchnorm(backbone)
    assert not any(
        isinstance(m, nn.SyncBatchNorm) for m in backbone.modules())
