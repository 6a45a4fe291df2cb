"""Every CSN config shipped inside the installed mmaction2 package builds,
unchanged, into a Recognizer3D on the plugin's ResNet3dCSN."""
import glob
import os.path as osp

import pytest
from csn_reference import (MMACTION_CSN_CONFIG_DIR, PUBLISHED_MILLIONS,
                           bn_layers, use_mmaction_scope)
from mmaction.models import Recognizer3D
from mmaction.registry import MODELS
from mmengine.config import Config

from csn_plugin.models import ResNet3dCSN

CSN_CONFIGS = sorted(glob.glob(osp.join(MMACTION_CSN_CONFIG_DIR, '*.py')))


def test_mmaction_ships_the_eight_csn_configs():
    assert len(CSN_CONFIGS) == 8, CSN_CONFIGS


@pytest.mark.parametrize(
    'path', CSN_CONFIGS, ids=[osp.basename(p)[:-3] for p in CSN_CONFIGS])
def test_mmaction_csn_config_builds_with_the_plugin(path):
    use_mmaction_scope()
    cfg = Config.fromfile(path)
    backbone_cfg = cfg.model.backbone
    assert backbone_cfg.type == 'ResNet3dCSN'
    model = MODELS.build(cfg.model)
    assert type(model) is Recognizer3D
    backbone = model.backbone
    assert type(backbone) is ResNet3dCSN

    assert backbone.depth == backbone_cfg.depth
    assert backbone.bottleneck_mode == backbone_cfg.bottleneck_mode
    assert backbone.pretrained == backbone_cfg.pretrained
    assert backbone.with_pool2 is False
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e6, 2) == PUBLISHED_MILLIONS[
        backbone.depth, backbone.bottleneck_mode]

    bn_frozen = backbone_cfg.get('bn_frozen', False)
    assert backbone.bn_frozen == bn_frozen
    assert backbone.norm_eval == backbone_cfg.norm_eval
    model.train()
    norms = bn_layers(backbone)
    assert all(m.training != backbone_cfg.norm_eval for m in norms)
    assert all(p.requires_grad != bn_frozen for m in norms
               for p in m.parameters())
