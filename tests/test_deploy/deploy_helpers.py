"""What the deploy tests share: a tiny recognizer (ir-CSN-26 at an eighth
of the width, 4x48x48 clips) and the tool options that build it."""
import os.path as osp

import torch

from csn_plugin.deploy.export import build_recognizer, read_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MOTION_CONFIG = osp.join(REPO, 'configs', 'ircsn_r26_8x112_motion.py')
#: the same as --cfg-options of the tools and as a dict
TINY = ['model.backbone.base_channels=8', 'model.cls_head.in_channels=256']
TINY_OPTIONS = {'model.backbone.base_channels': 8,
                'model.cls_head.in_channels': 256}
SHAPE = ('4', '48', '48')

_CSN_18 = {'model.backbone.base_channels': 8,
           'model.cls_head.in_channels': 64}
_CSN_26 = {'model.backbone.base_channels': 8,
           'model.cls_head.in_channels': 256}
_SEVNET = {'model.backbone.widths': (16, 16, 32, 32),
           'model.backbone.depths': (1, 1, 1, 1),
           'model.backbone.stem_channels': 8,
           'model.cls_head.in_channels': 32}
#: small models of each kind, by model config (configs/_base_/models): the
#: CSN design space's conv types and blocks, and SEVNet (with and without
#: squeeze-and-excitation units)
SMALL_MODELS = {
    'r3d_r18': _CSN_18,
    'gccsn_r18': _CSN_18,
    'ipcsn_r26': _CSN_26,
    'ircsn_r26': _CSN_26,
    'sevnet': dict(_SEVNET, **{'model.backbone.with_se': True}),
    'sevnet_s': _SEVNET,
}


def tiny_recognizer(config=MOTION_CONFIG, options=TINY_OPTIONS, seed=0):
    """The config's recognizer with Kaiming weights and BN statistics of
    random clips (so that no layer is an identity), in eval mode. A name of
    :data:`SMALL_MODELS` stands for its model config at that size."""
    if config in SMALL_MODELS:
        config, options = (f'{REPO}/configs/_base_/models/{config}.py',
                           SMALL_MODELS[config])
    torch.manual_seed(seed)
    cfg = read_config(config, options)
    model = build_recognizer(cfg)
    model.init_weights()
    model.train()
    with torch.no_grad():
        model.backbone(torch.randn(4, 3, 4, 48, 48))
    return cfg, model.eval()


def save_checkpoint(model, path):
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)
