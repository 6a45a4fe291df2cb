"""Helpers shared by the CSN tests: MMAction2's own ``ResNet3dCSN`` (the
reference the plugin must match) and small tensor utilities."""
# First: on the mmaction2 1.2.0 wheel, mmaction.models imports only once
# csn_plugin has patched the stack (see csn_plugin.compat.drn).
import csn_plugin  # noqa: F401  isort: skip
import os.path as osp

import mmaction
import torch
from mmaction.models.backbones.resnet3d_csn import \
    ResNet3dCSN as BuiltinResNet3dCSN
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

#: the CSN configs shipped inside the installed mmaction2 package
MMACTION_CSN_CONFIG_DIR = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition', 'csn')

#: (depth, bottleneck_mode) -> published millions of parameters with the
#: 400-class I3DHead, from MMAction2's CSN metafile (whose
#: ircsn_sports1m entry says 33.02M, a copy of the ip line)
PUBLISHED_MILLIONS = {
    (152, 'ir'): 29.70,
    (152, 'ip'): 33.02,
    (50, 'ir'): 13.13,
}

#: what MMAction2's CSN configs pass to the backbone (``_base_/models``)
CONFIG_BACKBONE = dict(pretrained2d=False, pretrained=None)

#: the head of MMAction2's CSN recognizers
I3D_HEAD = dict(
    type='I3DHead',
    num_classes=400,
    in_channels=2048,
    spatial_type='avg',
    dropout_ratio=0.5,
    init_std=0.01,
    average_clips='prob')


def use_mmaction_scope():
    """Recognizers build their data preprocessor in the default scope."""
    init_default_scope('mmaction')


def builtin_csn(**kwargs):
    """MMAction2's built-in class, constructed directly (not via the
    registry, where the plugin has replaced it)."""
    return BuiltinResNet3dCSN(**{**CONFIG_BACKBONE, **kwargs})


def randomize_bn(model, seed=0, shift=0.1):
    """Give every BN non-trivial statistics and affine parameters, so that a
    wrong eps, a swapped key or a missing BN shows in the outputs; running
    means and biases have standard deviation ``shift``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                n = m.num_features
                m.running_mean.copy_(shift * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(shift * torch.randn(n, generator=gen))
    return model


def max_relative_error(actual, expected):
    """``max|actual - expected| / max|expected|``."""
    assert actual.shape == expected.shape
    scale = expected.abs().max()
    assert scale > 0
    return ((actual - expected).abs().max() / scale).item()


def bn_layers(model):
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]
