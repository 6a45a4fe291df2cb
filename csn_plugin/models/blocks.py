"""Residual blocks of 3D ResNets: basic ("simple") and bottleneck.

A block owns its 1x1x1 convs and the residual; the 3x3x3 position is built by
a conv builder from :mod:`csn_plugin.models.conv_builders`, so each block
serves the dense, group, ip and ir designs alike. Attribute names (``conv1``,
``conv2``, ``conv3``, ``downsample``) follow MMAction2's so that published
checkpoints load.

Every block lists the modules of its residual branch in :attr:`steps`, in the
order they run. That is the interface the acceleration code reads
(:mod:`csn_plugin.models.acceleration`): it folds and fuses what the steps
are, never what their attributes are called.
"""
from types import MappingProxyType

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init, kaiming_init
from torch.nn.modules.batchnorm import _BatchNorm

from .conv_builders import conv_unit


class ResidualBlock3d(BaseModule):
    """``act(steps(x) + shortcut(x))``, the forward every block shares.

    Subclasses build their convs, then set ``self.downsample`` (the
    projection shortcut or None) last: MMAction2 registers it after the
    convs, and the parameter order is what optimizer states are saved by,
    so a run trained with the built-in resumes on these blocks.

    Args:
        act_cfg (dict): Activation after the residual sum.
        with_cp (bool): Recompute the residual branch in the backward pass
            (gradient checkpointing) to save memory.
    """

    expansion = 1

    def __init__(self, act_cfg=dict(type='ReLU'), with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.relu = build_activation_layer(act_cfg)

    @property
    def steps(self):
        """The modules of the residual branch, in the order they run."""
        raise NotImplementedError

    @property
    def last_norm(self):
        """Norm layer before the residual sum (zero-init target)."""
        raise NotImplementedError

    def forward(self, x):

        def residual(x):
            identity = x if self.downsample is None else self.downsample(x)
            out = x
            for step in self.steps:
                out = step(out)
            return out + identity

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(residual, x, use_reentrant=False)
        else:
            out = residual(x)
        return self.relu(out)


def init_from_scratch(model, zero_init_residual=True):
    """Kaiming-normal convs and unit norms; with ``zero_init_residual`` the
    last norm of every residual block is zero, so that each block starts as
    the identity (Goyal et al., 2017)."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            kaiming_init(m)
        elif isinstance(m, _BatchNorm):
            constant_init(m, 1)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, ResidualBlock3d):
                constant_init(m.last_norm, 0)


class ResNetBlock3d(ResidualBlock3d):
    """What basic and bottleneck blocks share: MMAction2's block attributes.

    Besides the arguments, these blocks have MMAction2's fixed settings as
    class attributes: the stride on the 3x3x3 conv (``style='pytorch'``),
    every block inflated (``inflate=True``) and no non-local module.
    Subclasses set where the stride goes (``conv1_stride_s/t``,
    ``conv2_stride_s/t``) and build their convs with it.

    Args:
        inplanes (int): Input channels.
        planes (int): Width of the block.
        spatial_stride (int): Spatial stride of the block. Defaults to 1.
        temporal_stride (int): Temporal stride of the block. Defaults to 1.
        dilation (int): Dilation of the 3x3x3 convs. Defaults to 1.
        conv_cfg, norm_cfg, act_cfg (dict): Layer configs.
        with_cp (bool): Gradient checkpointing. Defaults to False.
    """

    style = 'pytorch'
    inflate = True
    non_local = False
    non_local_cfg = MappingProxyType({})

    def __init__(self, inplanes, planes, spatial_stride=1, temporal_stride=1,
                 dilation=1, conv_cfg=dict(type='Conv3d'),
                 norm_cfg=dict(type='BN3d'), act_cfg=dict(type='ReLU'),
                 with_cp=False, init_cfg=None):
        super().__init__(act_cfg, with_cp, init_cfg)
        self.inplanes = inplanes
        self.planes = planes
        self.spatial_stride = spatial_stride
        self.temporal_stride = temporal_stride
        self.dilation = dilation
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg


class BasicBlock3d(ResNetBlock3d):
    """ResNet3D-simple block: two 3x3x3 convs, each built by ``conv_builder``.

    The first conv strides.

    Args:
        inplanes (int): Input channels.
        planes (int): Output channels.
        conv_builder (callable): Builds a 3x3x3 position, see
            :class:`~csn_plugin.models.conv_builders.ConvBuilder`.
        downsample (nn.Module | None): Projection shortcut.
        **kwargs: ``spatial_stride``, ``temporal_stride``, ``dilation``,
            ``conv_cfg``, ``norm_cfg``, ``act_cfg``, ``with_cp``,
            ``init_cfg``, as in :class:`ResNetBlock3d`.
    """

    def __init__(self, inplanes, planes, conv_builder, downsample=None,
                 **kwargs):
        super().__init__(inplanes, planes, **kwargs)
        self.conv1_stride_s = self.spatial_stride
        self.conv1_stride_t = self.temporal_stride
        self.conv2_stride_s = 1
        self.conv2_stride_t = 1
        self.conv1 = conv_builder(
            inplanes, planes,
            (self.conv1_stride_t, self.conv1_stride_s, self.conv1_stride_s),
            self.dilation, self.conv_cfg, self.norm_cfg, self.act_cfg)
        self.conv2 = conv_builder(planes, planes, 1, self.dilation,
                                  self.conv_cfg, self.norm_cfg, None)
        self.downsample = downsample

    @property
    def steps(self):
        return (self.conv1, self.conv2)

    @property
    def last_norm(self):
        return self.conv2.last_norm


class Bottleneck3d(ResNetBlock3d):
    """ResNet3D-bottleneck block: 1x1x1, 3x3x3 (by ``conv_builder``), 1x1x1.

    The stride sits on the 3x3x3 conv ("pytorch" style), as in CSN.

    Args:
        inplanes (int): Input channels.
        planes (int): Width of the block; it outputs ``planes * 4``.
        conv_builder (callable): Builds the 3x3x3 position.
        downsample (nn.Module | None): Projection shortcut.
        **kwargs: ``spatial_stride``, ``temporal_stride``, ``dilation``,
            ``conv_cfg``, ``norm_cfg``, ``act_cfg``, ``with_cp``,
            ``init_cfg``, as in :class:`ResNetBlock3d`.
    """

    expansion = 4
    #: MMAction2's name for the kernels of an inflated bottleneck: 3x3x3 in
    #: the middle, 1x1x1 around it
    inflate_style = '3x3x3'

    def __init__(self, inplanes, planes, conv_builder, downsample=None,
                 **kwargs):
        super().__init__(inplanes, planes, **kwargs)
        self.conv1_stride_s = 1
        self.conv1_stride_t = 1
        self.conv2_stride_s = self.spatial_stride
        self.conv2_stride_t = self.temporal_stride
        self.conv1 = conv_unit(inplanes, planes, 1, 1, 1, 1, self.conv_cfg,
                               self.norm_cfg, self.act_cfg)
        self.conv2 = conv_builder(
            planes, planes,
            (self.conv2_stride_t, self.conv2_stride_s, self.conv2_stride_s),
            self.dilation, self.conv_cfg, self.norm_cfg, self.act_cfg)
        self.conv3 = conv_unit(planes, planes * self.expansion, 1, 1, 1, 1,
                               self.conv_cfg, self.norm_cfg, None)
        self.downsample = downsample

    @property
    def bottleneck_mode(self):
        """How the 3x3x3 conv is built (``'ir'``, ``'ip'``, ``'3d'``,
        ``'gc'``): MMAction2's CSN name for it."""
        return self.conv2.name

    @property
    def steps(self):
        return (self.conv1, self.conv2, self.conv3)

    @property
    def last_norm(self):
        return self.conv3.bn
