"""Blocks of 3D ResNets (basic or "simple", bottleneck) and of SEVNet.

A block owns its 1x1x1 convs and the residual; the 3x3x3 position is built by
a conv builder from :mod:`csn_plugin.models.conv_builders`, so each block
serves the dense, group, ip and ir designs alike. Attribute names (``conv1``,
``conv2``, ``conv3``, ``downsample``) follow MMAction2's so that published
checkpoints load. SEVNet's residual module is the same residual block around
a :class:`~csn_plugin.models.conv_builders.SEVConv3d`, with an optional
squeeze-and-excitation unit.
"""
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule, build_activation_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init, kaiming_init
from torch.nn.modules.batchnorm import _BatchNorm

from .conv_builders import conv_unit


class ResidualBlock3d(BaseModule):
    """Common forward of the blocks: ``act(body(x) + shortcut(x))``.

    Subclasses build their convs, then set ``self.downsample`` (the
    projection shortcut or None) last: MMAction2 registers it after the
    convs, and the parameter order is what optimizer states are saved by,
    so a run trained with the built-in resumes on these blocks.

    Args:
        act_cfg (dict): Activation after the residual sum.
        with_cp (bool): Recompute the block body in the backward pass
            (gradient checkpointing) to save memory.
    """

    expansion = 1

    def __init__(self, act_cfg=dict(type='ReLU'), with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.relu = build_activation_layer(act_cfg)

    def body(self, x):
        raise NotImplementedError

    @property
    def last_norm(self):
        """Norm layer before the residual sum (zero-init target)."""
        raise NotImplementedError

    def forward(self, x):

        def residual(x):
            identity = x if self.downsample is None else self.downsample(x)
            return self.body(x) + identity

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


class BasicBlock3d(ResidualBlock3d):
    """ResNet3D-simple block: two 3x3x3 convs, each built by ``conv_builder``.

    Args:
        inplanes (int): Input channels.
        planes (int): Output channels.
        conv_builder (callable): Builds a 3x3x3 position, see
            :class:`~csn_plugin.models.conv_builders.ConvBuilder`.
        stride (tuple[int]): (t, h, w) stride of the first 3x3x3 conv.
        dilation (int): Dilation of the 3x3x3 convs.
        downsample (nn.Module | None): Projection shortcut.
        conv_cfg, norm_cfg, act_cfg (dict): Layer configs.
        with_cp (bool): Gradient checkpointing.
    """

    def __init__(self, inplanes, planes, conv_builder, stride=(1, 1, 1),
                 dilation=1, downsample=None, conv_cfg=dict(type='Conv3d'),
                 norm_cfg=dict(type='BN3d'), act_cfg=dict(type='ReLU'),
                 with_cp=False, init_cfg=None):
        super().__init__(act_cfg, with_cp, init_cfg)
        self.conv1 = conv_builder(inplanes, planes, stride, dilation,
                                  conv_cfg, norm_cfg, act_cfg)
        self.conv2 = conv_builder(planes, planes, 1, dilation, conv_cfg,
                                  norm_cfg, None)
        self.downsample = downsample

    def body(self, x):
        return self.conv2(self.conv1(x))

    @property
    def last_norm(self):
        return self.conv2.last_norm


class Bottleneck3d(ResidualBlock3d):
    """ResNet3D-bottleneck block: 1x1x1, 3x3x3 (by ``conv_builder``), 1x1x1.

    The stride sits on the 3x3x3 conv ("pytorch" style), as in CSN.

    Args:
        inplanes (int): Input channels.
        planes (int): Width of the block; it outputs ``planes * 4``.
        conv_builder (callable): Builds the 3x3x3 position.
        stride (tuple[int]): (t, h, w) stride of the 3x3x3 conv.
        dilation (int): Dilation of the 3x3x3 conv.
        downsample (nn.Module | None): Projection shortcut.
        conv_cfg, norm_cfg, act_cfg (dict): Layer configs.
        with_cp (bool): Gradient checkpointing.
    """

    expansion = 4

    def __init__(self, inplanes, planes, conv_builder, stride=(1, 1, 1),
                 dilation=1, downsample=None, conv_cfg=dict(type='Conv3d'),
                 norm_cfg=dict(type='BN3d'), act_cfg=dict(type='ReLU'),
                 with_cp=False, init_cfg=None):
        super().__init__(act_cfg, with_cp, init_cfg)
        self.conv1 = conv_unit(inplanes, planes, 1, 1, 1, 1, conv_cfg,
                               norm_cfg, act_cfg)
        self.conv2 = conv_builder(planes, planes, stride, dilation, conv_cfg,
                                  norm_cfg, act_cfg)
        self.conv3 = conv_unit(planes, planes * self.expansion, 1, 1, 1, 1,
                               conv_cfg, norm_cfg, None)
        self.downsample = downsample

    def body(self, x):
        return self.conv3(self.conv2(self.conv1(x)))

    @property
    def last_norm(self):
        return self.conv3.bn


class SqueezeExcitation3d(BaseModule):
    """Squeeze-and-excitation over a clip: channel weights from global
    spatiotemporal pooling (Hu et al., CVPR 2018).

    Args:
        channels (int): Input and output channels.
        reduction (int): Channel reduction of the hidden layer.
            Defaults to 16.
        act_cfg (dict): Activation of the hidden layer.
    """

    def __init__(self, channels, reduction=16, act_cfg=dict(type='ReLU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        hidden = max(channels // reduction, 1)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc1 = ConvModule(channels, hidden, 1, conv_cfg=dict(
            type='Conv3d'), act_cfg=act_cfg)
        self.fc2 = ConvModule(hidden, channels, 1, conv_cfg=dict(
            type='Conv3d'), act_cfg=dict(type='Sigmoid'))

    def forward(self, x):
        return x * self.fc2(self.fc1(self.pool(x)))


class SEVBlock(ResidualBlock3d):
    """SEV module: ``act(conv(x) [* se] + x)`` at a constant width.

    Args:
        channels (int): Input and output channels.
        conv_builder (callable): Builds the factorized conv, normally
            :class:`~csn_plugin.models.conv_builders.SEVConv3d` with its
            kernel and group settings bound.
        with_se (bool): Add a squeeze-and-excitation unit before the
            residual sum. Defaults to False.
        se_reduction (int): Channel reduction of the SE unit. Defaults to 16.
        conv_cfg, norm_cfg, act_cfg (dict): Layer configs.
        with_cp (bool): Gradient checkpointing.
    """

    def __init__(self, channels, conv_builder, with_se=False, se_reduction=16,
                 conv_cfg=dict(type='Conv3d'), norm_cfg=dict(type='BN3d'),
                 act_cfg=dict(type='ReLU'), with_cp=False, init_cfg=None):
        super().__init__(act_cfg, with_cp, init_cfg)
        self.conv = conv_builder(channels, channels, 1, 1, conv_cfg, norm_cfg,
                                 None)
        self.se = SqueezeExcitation3d(channels, se_reduction,
                                      act_cfg) if with_se else None
        self.downsample = None  # constant width: identity shortcut

    def body(self, x):
        out = self.conv(x)
        return out if self.se is None else self.se(out)

    @property
    def last_norm(self):
        return self.conv.last_norm


class SEVDownsample(BaseModule):
    """SEVNet's downsampling module: average pooling, then a 1x1x1 conv
    (with norm and activation) that widens the channels.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (tuple[int]): (t, h, w) kernel and stride of the pooling.
        conv_cfg, norm_cfg, act_cfg (dict): Layer configs.
    """

    def __init__(self, in_channels, out_channels, stride=(1, 2, 2),
                 conv_cfg=dict(type='Conv3d'), norm_cfg=dict(type='BN3d'),
                 act_cfg=dict(type='ReLU'), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        stride = tuple(stride)
        downsamples = stride != (1, 1, 1)
        self.pool = nn.AvgPool3d(stride, stride) if downsamples else None
        self.conv = conv_unit(in_channels, out_channels, 1, 1, 1, 1, conv_cfg,
                              norm_cfg, act_cfg)

    def forward(self, x):
        if self.pool is not None:
            x = self.pool(x)
        return self.conv(x)
