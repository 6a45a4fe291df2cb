"""SEVNet: a 3D CNN of channel-wise, spatial-grouped and temporal convs.

Zhe Wang and Xulei Yang, "An Efficient 3D Convolutional Neural Network with
Channel-wise, Spatial-grouped, and Temporal Convolutions", arXiv 2503.00796.
From the paper: the SEV module (a 1x1x1 channel-wise conv, a spatial group
conv and a temporal conv, each followed by BN and ReLU, in a residual block),
downsampling by average pooling and a widening 1x1x1 conv, an optional SE
unit. The layouts below, the stem, the kernels and the group width are our
choices (the paper's are not public); ``docs/sevnet.md`` lists which is which.

Multiply-adds and params of the backbone at 16x224x224 (``python -m
csn_plugin.tools.complexity sevnet --shape 1 3 16 224 224`` adds the head):

====  ==================  ============  ======  =====
arch  widths              depths        params  GMACs
====  ==================  ============  ======  =====
s     48, 96, 192, 384    2, 3, 5, 2    2.46M   7.90
m     64, 128, 256, 512   3, 4, 6, 3    5.77M   17.26
l     80, 160, 320, 640   3, 4, 8, 3    9.76M   28.68
====  ==================  ============  ======  =====
"""
import functools
from collections import OrderedDict

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch.nn.modules.utils import _triple

from ...registry import MODELS
from ..acceleration import (DeviceAwareLayout, Deployable,
                            fold_frozen_bn_per_call)
from ..blocks import ResidualBlock3d, init_from_scratch
from ..conv_builders import ConvBuilder, conv_unit
from .arg_checks import check_index_range, check_per_stage


class SEVConv3d(ConvBuilder):
    """The SEV factorization: channel-wise, spatial-grouped, temporal convs.

    The building unit of SEVNet (Wang & Yang, "An Efficient 3D Convolutional
    Neural Network with Channel-wise, Spatial-grouped, and Temporal
    Convolutions", arXiv 2503.00796): a 1x1x1 conv that mixes channels, a
    spatial group conv and a temporal conv, each followed by a norm and an
    activation. Kernel sizes, the group width and whether the temporal conv
    is depthwise are not public; they are arguments here (see
    ``docs/sevnet.md``). Not one of ``CONV_BUILDERS``: the CSN design space
    does not include it.

    Args:
        in_channels (int): Input channels of the channel-wise conv.
        out_channels (int): Width of the spatial and temporal convs.
        stride (int | tuple[int]): (t, h, w) stride; the spatial stride goes
            on the spatial conv, the temporal one on the temporal conv.
        dilation (int): Dilation of the spatial and temporal convs.
        conv_cfg, norm_cfg (dict | None): Layer configs.
        act_cfg (dict | None): Activation after the temporal conv; ``None``
            where the block adds the residual first.
        inner_act_cfg (dict): Activation after the channel-wise and spatial
            convs. Defaults to ``dict(type='ReLU', inplace=True)``.
        spatial_kernel (tuple[int]): Kernel of the spatial group conv.
            Defaults to (1, 3, 3).
        group_width (int): Channels per group of the spatial conv; 1 makes it
            depthwise, ``out_channels`` dense. Defaults to 16.
        temporal_kernel (tuple[int]): Kernel of the temporal conv.
            Defaults to (3, 1, 1).
        temporal_depthwise (bool): Whether the temporal conv is depthwise
            rather than dense. Defaults to False.
    """

    name = 'sev'

    def __init__(self,
                 in_channels,
                 out_channels,
                 stride=1,
                 dilation=1,
                 conv_cfg=None,
                 norm_cfg=None,
                 act_cfg=None,
                 inner_act_cfg=dict(type='ReLU', inplace=True),
                 spatial_kernel=(1, 3, 3),
                 group_width=16,
                 temporal_kernel=(3, 1, 1),
                 temporal_depthwise=False):
        if out_channels % group_width:
            raise ValueError(
                f'group_width={group_width} must divide the {out_channels} '
                f'channels of the spatial group conv')
        stride_t, stride_h, stride_w = _triple(stride)
        super().__init__(
            conv_unit(in_channels, out_channels, 1, 1, 1, 1, conv_cfg,
                      norm_cfg, inner_act_cfg),
            conv_unit(out_channels, out_channels, spatial_kernel,
                      (1, stride_h, stride_w), (1, dilation, dilation),
                      out_channels // group_width, conv_cfg, norm_cfg,
                      inner_act_cfg),
            conv_unit(out_channels, out_channels, temporal_kernel,
                      (stride_t, 1, 1), (dilation, 1, 1),
                      out_channels if temporal_depthwise else 1, conv_cfg,
                      norm_cfg, act_cfg))


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

    @property
    def steps(self):
        return (self.conv, ) if self.se is None else (self.conv, self.se)

    @property
    def last_norm(self):
        return self.conv.last_norm


class SEVDownsample(nn.Sequential):
    """SEVNet's downsampling module: average pooling (where it strides),
    then a 1x1x1 conv (with norm and activation) that widens the channels.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (tuple[int]): (t, h, w) kernel and stride of the pooling.
        conv_cfg, norm_cfg, act_cfg (dict): Layer configs.
    """

    def __init__(self, in_channels, out_channels, stride=(1, 2, 2),
                 conv_cfg=dict(type='Conv3d'), norm_cfg=dict(type='BN3d'),
                 act_cfg=dict(type='ReLU')):
        stride = tuple(stride)
        parts = OrderedDict()
        if stride != (1, 1, 1):
            parts['pool'] = nn.AvgPool3d(stride, stride)
        parts['conv'] = conv_unit(in_channels, out_channels, 1, 1, 1, 1,
                                  conv_cfg, norm_cfg, act_cfg)
        super().__init__(parts)


@MODELS.register_module()
class SEVNet(Deployable, DeviceAwareLayout, BaseModule):
    """SEVNet backbone: a stem, then stages of a downsampling module and SEV
    modules.

    Args:
        arch (str): A layout of :attr:`arch_settings`: ``'s'``, ``'m'`` or
            ``'l'``. Defaults to ``'m'``.
        stem_channels (int, optional): Width of the stem, overriding the
            arch's.
        widths (tuple[int], optional): Width of each stage, overriding the
            arch's.
        depths (tuple[int], optional): SEV modules per stage (after its
            downsampling module), overriding the arch's.
        in_channels (int): Input channels. Defaults to 3.
        stem_kernel (tuple[int]): Kernel of the stem conv, which strides
            space by 2. Defaults to (3, 3, 3).
        spatial_strides (tuple[int], optional): Spatial stride of each
            stage's downsampling module, one per stage. Defaults to 2 in
            every stage.
        temporal_strides (tuple[int], optional): Temporal stride of each
            stage's downsampling module, one per stage. Defaults to 1 in
            every stage: time is kept.
        spatial_kernel (tuple[int]): Kernel of the spatial group conv.
            Defaults to (1, 3, 3).
        group_width (int): Channels per group of the spatial conv.
            Defaults to 16.
        temporal_kernel (tuple[int]): Kernel of the temporal conv.
            Defaults to (3, 1, 1).
        temporal_depthwise (bool): Depthwise temporal conv. Defaults to False.
        with_se (bool): Squeeze-and-excitation in every SEV module.
            Defaults to False.
        se_reduction (int): Channel reduction of the SE units. Defaults to 16.
        out_indices (tuple[int]): Stages whose outputs are returned.
            Defaults to (3, ).
        conv_cfg (dict): Conv layer config. Defaults to
            ``dict(type='Conv3d')``.
        norm_cfg (dict): Norm layer config. Defaults to
            ``dict(type='BN3d', requires_grad=True)``.
        act_cfg (dict): Activation config. Defaults to
            ``dict(type='ReLU', inplace=True)``.
        with_cp (bool): Gradient checkpointing in every SEV module.
            Defaults to False.
        zero_init_residual (bool): Zero-init the last BN of each SEV module
            when training from scratch. Defaults to True.
        memory_format (str): ``'auto'``, ``'channels_last_3d'`` or
            ``'contiguous'``, the layout of the conv weights and so of the
            computation (see :mod:`..acceleration.layout`); ``'auto'``
            follows the parameters' device: channels_last_3d on the CPU,
            contiguous on CUDA. Defaults to ``'auto'``.
        init_cfg (dict | list[dict], optional): mmengine init config, e.g.
            ``dict(type='Pretrained', checkpoint=...)``.
    """

    #: arch -> stem width, stage widths, SEV modules per stage (our layouts)
    arch_settings = {
        's': dict(stem_channels=24, widths=(48, 96, 192, 384),
                  depths=(2, 3, 5, 2)),
        'm': dict(stem_channels=32, widths=(64, 128, 256, 512),
                  depths=(3, 4, 6, 3)),
        'l': dict(stem_channels=40, widths=(80, 160, 320, 640),
                  depths=(3, 4, 8, 3)),
    }

    def __init__(self,
                 arch='m',
                 stem_channels=None,
                 widths=None,
                 depths=None,
                 in_channels=3,
                 stem_kernel=(3, 3, 3),
                 spatial_strides=None,
                 temporal_strides=None,
                 spatial_kernel=(1, 3, 3),
                 group_width=16,
                 temporal_kernel=(3, 1, 1),
                 temporal_depthwise=False,
                 with_se=False,
                 se_reduction=16,
                 out_indices=(3, ),
                 conv_cfg=dict(type='Conv3d'),
                 norm_cfg=dict(type='BN3d', requires_grad=True),
                 act_cfg=dict(type='ReLU', inplace=True),
                 with_cp=False,
                 zero_init_residual=True,
                 memory_format='auto',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if arch not in self.arch_settings:
            raise KeyError(f'invalid arch {arch!r} for SEVNet; choose from '
                           f'{sorted(self.arch_settings)}')
        setting = self.arch_settings[arch]
        self.stem_channels = stem_channels or setting['stem_channels']
        self.widths = tuple(widths or setting['widths'])
        self.depths = tuple(depths or setting['depths'])
        num_stages = len(self.widths)
        spatial_strides = spatial_strides or (2, ) * num_stages
        temporal_strides = temporal_strides or (1, ) * num_stages
        for name, value in (('depths', self.depths),
                            ('spatial_strides', spatial_strides),
                            ('temporal_strides', temporal_strides)):
            check_per_stage(name, value, num_stages)
        if not out_indices:
            raise ValueError('out_indices must name at least one stage')
        check_index_range('out_indices', out_indices, 0, num_stages - 1)
        self.arch = arch
        self.out_indices = tuple(out_indices)
        self.zero_init_residual = zero_init_residual

        self.stem = conv_unit(in_channels, self.stem_channels, stem_kernel,
                              (1, 2, 2), 1, 1, conv_cfg, norm_cfg, act_cfg)
        conv_builder = functools.partial(
            SEVConv3d,
            inner_act_cfg=act_cfg,
            spatial_kernel=spatial_kernel,
            group_width=group_width,
            temporal_kernel=temporal_kernel,
            temporal_depthwise=temporal_depthwise)
        self.res_layers = []
        inplanes = self.stem_channels
        for i, (width, depth) in enumerate(zip(self.widths, self.depths)):
            stride = (temporal_strides[i], spatial_strides[i],
                      spatial_strides[i])
            modules = [
                SEVDownsample(inplanes, width, stride, conv_cfg, norm_cfg,
                              act_cfg)
            ]
            modules += [
                SEVBlock(width, conv_builder, with_se, se_reduction,
                         conv_cfg, norm_cfg, act_cfg, with_cp)
                for _ in range(depth)
            ]
            self.add_module(f'layer{i + 1}', nn.Sequential(*modules))
            self.res_layers.append(f'layer{i + 1}')
            inplanes = width
        self.feat_dim = inplanes
        self.init_memory_format(memory_format)

    def init_weights(self):
        """Follow ``init_cfg``, or init from scratch: Kaiming-normal convs,
        unit BN and (with ``zero_init_residual``) zero for the last BN of
        each SEV module, which then starts as the identity."""
        if self.init_cfg is not None:
            super().init_weights()
        else:
            init_from_scratch(self, self.zero_init_residual)

    def train(self, mode=True):
        """Set train mode; a BatchNorm left in eval mode is folded into its
        conv per call (:func:`~..acceleration.fold_frozen_bn_per_call`). A
        deployed backbone refuses to train.

        Returns:
            SEVNet: ``self``.
        """
        super().train(mode)
        fold_frozen_bn_per_call(self)
        return self

    def forward(self, x):
        """Features of a clip batch ``(N, C, T, H, W)``.

        Returns:
            torch.Tensor | tuple[torch.Tensor]: The outputs of the stages in
            ``out_indices``; one tensor when there is one.
        """
        x = self.stem(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x.contiguous())
        return outs[0] if len(outs) == 1 else tuple(outs)
