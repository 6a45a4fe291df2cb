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

import torch.nn as nn
from mmengine.model import BaseModule

from ...registry import MODELS
from ..blocks import SEVBlock, SEVDownsample, init_from_scratch
from ..conv_builders import SEVConv3d, conv_unit


@MODELS.register_module()
class SEVNet(BaseModule):
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
        spatial_strides (tuple[int]): Spatial stride of each stage's
            downsampling module. Defaults to (2, 2, 2, 2).
        temporal_strides (tuple[int]): Temporal stride of each stage's
            downsampling module. Defaults to (1, 1, 1, 1): time is kept.
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
                 spatial_strides=(2, 2, 2, 2),
                 temporal_strides=(1, 1, 1, 1),
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
        for name, value in (('depths', self.depths),
                            ('spatial_strides', spatial_strides),
                            ('temporal_strides', temporal_strides)):
            if len(value) < num_stages:
                raise ValueError(f'{name} needs {num_stages} entries, one a '
                                 f'stage, but got {tuple(value)}')
        if not out_indices or max(out_indices) >= num_stages:
            raise ValueError(f'out_indices {tuple(out_indices)} must name '
                             f'stages below {num_stages}')
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

    def init_weights(self):
        """Follow ``init_cfg``, or init from scratch: Kaiming-normal convs,
        unit BN and (with ``zero_init_residual``) zero for the last BN of
        each SEV module, which then starts as the identity."""
        if self.init_cfg is not None:
            super().init_weights()
        else:
            init_from_scratch(self, self.zero_init_residual)

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
                outs.append(x)
        return outs[0] if len(outs) == 1 else tuple(outs)
