"""Ways to build the 3x3x3 convolution of a 3D ResNet block.

Each builder is a small ``nn.Sequential`` of ``ConvModule`` units (conv, BN,
optional activation) that knows its kernels, groups and where the stride goes.
Blocks take a builder, so the block type (basic or bottleneck) and the conv
factorization are independent, as in torchvision's video ResNet. The CSN paper
(Tran et al., ICCV 2019, Sec. 3-4) compares:

- ``'3d'``: the dense 3x3x3 conv of ResNet3D;
- ``'gc'``: a 3x3x3 group conv with ``groups`` groups;
- ``'ip'``: interaction-preserved, a 1x1x1 conv then a 3x3x3 depthwise conv;
- ``'ir'``: interaction-reduced, the 3x3x3 depthwise conv alone.

The ``ip``/``ir`` units are stored as ``conv2.0`` (and ``conv2.1``) exactly as
MMAction2's ``CSNBottleneck3d`` stores them, so its checkpoints load unchanged.
"""
import math

import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.utils import _triple


def conv_unit(in_channels,
              out_channels,
              kernel_size,
              stride=1,
              dilation=1,
              groups=1,
              conv_cfg=None,
              norm_cfg=None,
              act_cfg=None):
    """A bias-free conv + norm (+ act) with 'same' padding."""
    kernel_size = _triple(kernel_size)
    dilation = _triple(dilation)
    padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel_size, dilation))
    return ConvModule(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=False,
        conv_cfg=conv_cfg,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg)


class ConvBuilder(nn.Sequential):
    """Base class: a 3x3x3 conv position in a block.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int | tuple[int]): Stride (t, h, w) of the 3x3x3 conv.
        dilation (int): Spatial and temporal dilation of the 3x3x3 conv.
        conv_cfg (dict | None): Config of the conv layers.
        norm_cfg (dict | None): Config of the norm layers.
        act_cfg (dict | None): Activation after the last unit. ``None`` where
            the block adds the residual first.
    """

    #: short name used in configs and in ``CONV_BUILDERS``
    name = None

    @property
    def last_norm(self):
        """The norm layer of the last unit (zero-initialised as residual)."""
        return self[-1].bn


class DenseConv3d(ConvBuilder):
    """``'3d'``: the dense 3x3x3 conv of ResNet3D, the CSN paper's baseline."""

    name = '3d'

    def __init__(self, in_channels, out_channels, stride=1, dilation=1,
                 conv_cfg=None, norm_cfg=None, act_cfg=None):
        super().__init__(
            conv_unit(in_channels, out_channels, 3, stride, dilation, 1,
                      conv_cfg, norm_cfg, act_cfg))


class GroupConv3d(ConvBuilder):
    """``'gc'``: a 3x3x3 group conv (the paper's group-convolution blocks).

    Args:
        groups (int): Number of groups; divides both channel counts.
        Others as in :class:`ConvBuilder`.
    """

    name = 'gc'

    def __init__(self, in_channels, out_channels, stride=1, dilation=1,
                 conv_cfg=None, norm_cfg=None, act_cfg=None, groups=1):
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f'groups={groups} must divide both in_channels={in_channels} '
                f'and out_channels={out_channels} of a group conv')
        super().__init__(
            conv_unit(in_channels, out_channels, 3, stride, dilation, groups,
                      conv_cfg, norm_cfg, act_cfg))


class DepthwiseConv3d(ConvBuilder):
    """``'ir'``: interaction-reduced, a 3x3x3 depthwise conv alone.

    Each output channel sees exactly one input channel. Where the channel
    count changes (the first conv of a basic block's stage) it is a depthwise
    conv with channel multiplier ``out_channels // in_channels``.
    """

    name = 'ir'

    def __init__(self, in_channels, out_channels, stride=1, dilation=1,
                 conv_cfg=None, norm_cfg=None, act_cfg=None):
        super().__init__(
            conv_unit(in_channels, out_channels, 3, stride, dilation,
                      depthwise_groups(in_channels, out_channels), conv_cfg,
                      norm_cfg, act_cfg))


class InteractionPreservedConv3d(ConvBuilder):
    """``'ip'``: interaction-preserved, 1x1x1 conv + 3x3x3 depthwise conv.

    The 1x1x1 conv keeps the channel interactions that the depthwise conv
    drops; it has BN and no activation, as in the authors' models.
    """

    name = 'ip'

    def __init__(self, in_channels, out_channels, stride=1, dilation=1,
                 conv_cfg=None, norm_cfg=None, act_cfg=None):
        super().__init__(
            conv_unit(in_channels, out_channels, 1, 1, 1, 1, conv_cfg,
                      norm_cfg, None),
            conv_unit(out_channels, out_channels, 3, stride, dilation,
                      out_channels, conv_cfg, norm_cfg, act_cfg))


def depthwise_groups(in_channels, out_channels):
    """Groups of a depthwise conv from ``in_channels`` to ``out_channels``."""
    groups = math.gcd(in_channels, out_channels)
    if groups != min(in_channels, out_channels):
        raise ValueError(
            f'a depthwise conv needs one channel count to divide the other, '
            f'got {in_channels} -> {out_channels}')
    return groups


#: conv type name -> builder class
CONV_BUILDERS = {
    cls.name: cls
    for cls in (DenseConv3d, GroupConv3d, DepthwiseConv3d,
                InteractionPreservedConv3d)
}


def get_conv_builder(conv_type):
    """Look a builder class up by its name (``'3d'``, ``'gc'``, ...)."""
    if conv_type not in CONV_BUILDERS:
        raise ValueError(f'conv type must be one of {sorted(CONV_BUILDERS)}, '
                         f'but got {conv_type!r}')
    return CONV_BUILDERS[conv_type]
