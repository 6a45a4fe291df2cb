"""FactorizedResNet3d: the 3D ResNet design space of the CSN paper.

One generic network stacks stem, four stages and optional pooling; the
variants differ only in the block (basic or bottleneck, from the depth) and in
how the block's 3x3x3 conv is built (``conv_type``):

======  ===========  ================  ======================================
depth   block        stage blocks      notes
======  ===========  ================  ======================================
18      basic        (2, 2, 2, 2)      ResNet3D-simple
34      basic        (3, 4, 6, 3)      ResNet3D-simple
26      bottleneck   (2, 2, 2, 2)      ResNet3D-bottleneck
50      bottleneck   (3, 4, 6, 3)
101     bottleneck   (3, 4, 23, 3)
152     bottleneck   (3, 8, 36, 3)
======  ===========  ================  ======================================
"""
import functools
import warnings
from types import MappingProxyType

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS
from ..acceleration import (DeviceAwareLayout, Deployable,
                            fold_frozen_bn_per_call)
from ..blocks import BasicBlock3d, Bottleneck3d, init_from_scratch
from ..conv_builders import conv_unit, get_conv_builder
from ..state_dict_file import read_state_dict
from .arg_checks import check_index_range, check_per_stage


@MODELS.register_module()
class FactorizedResNet3d(Deployable, DeviceAwareLayout, BaseModule):
    """3D ResNet whose 3x3x3 convs are dense, grouped, ip or ir.

    Args:
        depth (int): One of :attr:`arch_settings` (18, 34, 26, 50, 101, 152).
        conv_type (str): How each 3x3x3 conv is built: ``'3d'`` (dense),
            ``'gc'`` (group conv, see ``groups``), ``'ip'`` or ``'ir'``.
            Defaults to ``'ir'``.
        groups (int): Groups of the ``'gc'`` conv. Defaults to 1.
        pretrained (str, optional): Path or URL of a 3D checkpoint whose keys
            match this backbone (a ``backbone.`` prefix is stripped). Loaded
            by mmengine in :meth:`init_weights`. Defaults to None.
        pretrained2d (bool): Inflating 2D ImageNet weights is not supported
            for these networks; ``True`` together with ``pretrained`` raises.
            Defaults to False.
        in_channels (int): Input channels. Defaults to 3.
        base_channels (int): Stem width; stage ``i`` has width
            ``base_channels * 2**i``. Defaults to 64.
        num_stages (int): Number of stages, 1 to 4. Defaults to 4.
        stage_blocks (tuple[int], optional): Blocks per stage, overriding the
            depth's. Defaults to None.
        out_indices (tuple[int]): Stages whose outputs are returned.
            Defaults to (3, ).
        spatial_strides (tuple[int]): Spatial stride of each stage's first
            block. Defaults to (1, 2, 2, 2).
        temporal_strides (tuple[int]): Temporal stride of each stage's first
            block, on its 3x3x3 conv. Defaults to (1, 2, 2, 2).
        dilations (tuple[int]): Dilation of each stage. Defaults to
            (1, 1, 1, 1).
        conv1_kernel (tuple[int]): Stem conv kernel. Defaults to (3, 7, 7).
        conv1_stride_s (int): Stem conv spatial stride. Defaults to 2.
        conv1_stride_t (int): Stem conv temporal stride. Defaults to 1.
        pool1_stride_s (int): Stem max-pool spatial stride. Defaults to 2.
        pool1_stride_t (int): Stem max-pool temporal stride. Defaults to 1.
        with_pool1 (bool): Whether to use the stem's 1x3x3 max-pool.
            Defaults to True.
        with_pool2 (bool): Whether to max-pool time by 2 after stage 1, as
            MMAction2's ResNet3d does by default. The CSN paper's networks
            (Table 1: res2 to res5 at T, T/2, T/4, T/8) have no such pool.
            Defaults to False.
        frozen_stages (int): Stages (and the stem, if >= 0) whose parameters
            are frozen and kept in eval mode: -1 freezes nothing, 0 the stem,
            ``i`` the stem and stages 1 to ``i`` (at most ``num_stages``).
            Defaults to -1.
        conv_cfg (dict): Conv layer config. Defaults to
            ``dict(type='MixedPrecisionConv3d')``, an ``nn.Conv3d`` that
            keeps fp32 where oneDNN's bf16 training kernels are slow or
            wrong (see :mod:`..acceleration.mixed_precision`);
            ``dict(type='Conv3d')`` builds plain ones, with the same state
            dict.
        norm_cfg (dict): Norm layer config. Defaults to
            ``dict(type='BN3d', requires_grad=True, eps=1e-3)``, the CSN
            models' BN epsilon.
        act_cfg (dict): Activation config. Defaults to
            ``dict(type='ReLU', inplace=True)``.
        norm_eval (bool, optional): Keep BN layers in eval mode (frozen
            running statistics) while training. Defaults to ``bn_frozen``.
        bn_frozen (bool): Freeze BN completely: running statistics and
            affine parameters. Implies ``norm_eval``; an explicit
            ``norm_eval=False`` contradicts it and raises. Defaults to False.
        with_cp (bool): Gradient checkpointing in every block.
            Defaults to False.
        zero_init_residual (bool): Zero-init the last BN of each block when
            training from scratch. Defaults to True.
        memory_format (str): The layout of the conv weights and so of the
            computation (see :mod:`..acceleration.layout`): ``'auto'`` (the
            default) takes the fastest for the device of the parameters and
            follows them when they move: ``'channels_last_3d'`` (NTHWC,
            which oneDNN prefers) on the CPU, ``'contiguous'`` on CUDA.
            ``'channels_last_3d'`` or ``'contiguous'`` fixes it. Outputs are
            contiguous.
        init_cfg (dict | list[dict], optional): mmengine init config; not
            together with ``pretrained``.

    ``forward`` calls the stem and the stages as they are, in every mode.
    Training with BN in eval mode (``norm_eval``, frozen stages) folds each
    such BN into its conv per call (mmcv's ``efficient_conv_bn_eval``, see
    :mod:`..acceleration.fold_bn`); :meth:`switch_to_deploy` rewrites the
    module tree into its fused inference form for testing
    (:mod:`..acceleration.deploy`).
    """

    #: MMAction2's ResNet3d settings that these networks have fixed: the
    #: stride on the 3x3x3 conv, 3x3x3 kernels, no non-local modules
    style = 'pytorch'
    inflate_style = '3x3x3'
    non_local_cfg = MappingProxyType({})

    #: depth -> (block, blocks per stage)
    arch_settings = {
        18: (BasicBlock3d, (2, 2, 2, 2)),
        34: (BasicBlock3d, (3, 4, 6, 3)),
        26: (Bottleneck3d, (2, 2, 2, 2)),
        50: (Bottleneck3d, (3, 4, 6, 3)),
        101: (Bottleneck3d, (3, 4, 23, 3)),
        152: (Bottleneck3d, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth,
                 conv_type='ir',
                 groups=1,
                 pretrained=None,
                 pretrained2d=False,
                 in_channels=3,
                 base_channels=64,
                 num_stages=4,
                 stage_blocks=None,
                 out_indices=(3, ),
                 spatial_strides=(1, 2, 2, 2),
                 temporal_strides=(1, 2, 2, 2),
                 dilations=(1, 1, 1, 1),
                 conv1_kernel=(3, 7, 7),
                 conv1_stride_s=2,
                 conv1_stride_t=1,
                 pool1_stride_s=2,
                 pool1_stride_t=1,
                 with_pool1=True,
                 with_pool2=False,
                 frozen_stages=-1,
                 conv_cfg=dict(type='MixedPrecisionConv3d'),
                 norm_cfg=dict(type='BN3d', requires_grad=True, eps=1e-3),
                 act_cfg=dict(type='ReLU', inplace=True),
                 norm_eval=None,
                 bn_frozen=False,
                 with_cp=False,
                 zero_init_residual=True,
                 memory_format='auto',
                 init_cfg=None):
        if pretrained is not None and init_cfg is not None:
            raise ValueError('give either `pretrained` or `init_cfg`, not both')
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError(f'pretrained must be a str or None, but got '
                            f'{type(pretrained).__name__}')
        if pretrained and pretrained2d:
            raise ValueError(
                'pretrained2d=True asks to inflate 2D ImageNet weights, which '
                'these channel-separated networks cannot use; pass a 3D '
                'checkpoint with pretrained2d=False')
        super().__init__(init_cfg=init_cfg)
        if isinstance(depth, bool) or not isinstance(depth, int):
            raise TypeError(f'depth must be an int, one of '
                            f'{sorted(self.arch_settings)}, but got '
                            f'{depth!r} ({type(depth).__name__})')
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth} for {type(self).__name__}; '
                           f'choose from {sorted(self.arch_settings)}')
        if num_stages not in (1, 2, 3, 4):
            raise ValueError(f'num_stages must be 1, 2, 3 or 4, got '
                             f'{num_stages!r}')
        for name, value in (('spatial_strides', spatial_strides),
                            ('temporal_strides', temporal_strides),
                            ('dilations', dilations),
                            ('stage_blocks', stage_blocks)):
            if value is not None:
                check_per_stage(name, value, num_stages)
        check_index_range('frozen_stages', [frozen_stages], -1, num_stages)
        if not out_indices:
            raise ValueError('out_indices must name at least one stage')
        check_index_range('out_indices', out_indices, 0, num_stages - 1)
        if norm_eval is None:
            norm_eval = bn_frozen
        elif bn_frozen and not norm_eval:
            raise ValueError(
                'bn_frozen=True freezes BN statistics, which contradicts '
                'norm_eval=False; drop norm_eval or set it to True')

        self.depth = depth
        self.conv_type = conv_type
        self.pretrained = pretrained
        self.pretrained2d = pretrained2d
        self.in_channels = in_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.out_indices = tuple(out_indices)
        self.spatial_strides = tuple(spatial_strides)
        self.temporal_strides = tuple(temporal_strides)
        self.dilations = tuple(dilations)
        self.conv1_kernel = tuple(conv1_kernel)
        self.conv1_stride_s = conv1_stride_s
        self.conv1_stride_t = conv1_stride_t
        self.pool1_stride_s = pool1_stride_s
        self.pool1_stride_t = pool1_stride_t
        self.with_pool1 = with_pool1
        self.with_pool2 = with_pool2
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.norm_eval = norm_eval
        self.bn_frozen = bn_frozen
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual
        # MMAction2's per-stage settings that these networks have fixed
        self.stage_inflations = (1, ) * num_stages
        self.non_local_stages = (0, ) * num_stages

        self.block, default_blocks = self.arch_settings[depth]
        self.stage_blocks = tuple(stage_blocks or default_blocks[:num_stages])
        builder = get_conv_builder(conv_type)
        if conv_type == 'gc':
            builder = functools.partial(builder, groups=groups)
        elif groups != 1:
            raise ValueError(f'groups={groups} only applies to '
                             f"conv_type='gc', not {conv_type!r}")
        self.conv_builder = builder

        self.conv1 = conv_unit(in_channels, base_channels, conv1_kernel,
                               (conv1_stride_t, conv1_stride_s,
                                conv1_stride_s), 1, 1, conv_cfg, norm_cfg,
                               act_cfg)
        self.maxpool = nn.MaxPool3d(
            kernel_size=(1, 3, 3),
            stride=(pool1_stride_t, pool1_stride_s, pool1_stride_s),
            padding=(0, 1, 1))
        self.pool2 = nn.MaxPool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1))

        self.inplanes = base_channels
        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            planes = base_channels * 2**i
            layer = self.make_res_layer(self.inplanes, planes, num_blocks,
                                        self.spatial_strides[i],
                                        self.temporal_strides[i],
                                        self.dilations[i], with_cp)
            self.add_module(f'layer{i + 1}', layer)
            self.res_layers.append(f'layer{i + 1}')
            self.inplanes = planes * self.block.expansion
        self.feat_dim = self.inplanes

        if bn_frozen:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.requires_grad_(False)
        self.init_memory_format(memory_format)

    def make_res_layer(self, inplanes, planes, num_blocks, spatial_stride,
                       temporal_stride, dilation, with_cp):
        """Build one stage; its first block strides and projects."""
        out_channels = planes * self.block.expansion
        downsample = None
        if spatial_stride != 1 or temporal_stride != 1 \
                or inplanes != out_channels:
            downsample = conv_unit(
                inplanes, out_channels, 1,
                (temporal_stride, spatial_stride, spatial_stride), 1, 1,
                self.conv_cfg, self.norm_cfg, None)
        blocks = []
        for j in range(num_blocks):
            blocks.append(
                self.block(
                    inplanes if j == 0 else out_channels,
                    planes,
                    self.conv_builder,
                    spatial_stride=spatial_stride if j == 0 else 1,
                    temporal_stride=temporal_stride if j == 0 else 1,
                    dilation=dilation,
                    downsample=downsample if j == 0 else None,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg,
                    with_cp=with_cp))
        return nn.Sequential(*blocks)

    def init_weights(self):
        """Load ``pretrained``, or follow ``init_cfg``, or init from scratch.

        From scratch: Kaiming-normal convs, unit BN, and (with
        ``zero_init_residual``) zero for each block's last BN.
        """
        if self.pretrained:
            self.load_pretrained(self.pretrained)
        elif self.init_cfg is not None:
            super().init_weights()
        else:
            init_from_scratch(self, self.zero_init_residual)

    def load_pretrained(self, filename):
        """Load a 3D checkpoint through mmengine, reporting keys by name.

        A ``backbone.`` prefix (a whole recognizer's checkpoint) is stripped.
        Missing backbone keys raise ``KeyError``; keys that belong to no
        backbone parameter (a classifier, say) are listed in a warning.
        """
        print_log(f'load pretrained backbone from {filename}',
                  logger='current')
        state_dict = read_state_dict(filename)
        if any(k.startswith('backbone.') for k in state_dict):
            # the other keys (``cls_head.*``) stay, to be reported as unused
            state_dict = {
                k[len('backbone.'):] if k.startswith('backbone.') else k: v
                for k, v in state_dict.items()
            }
        own = self.state_dict()
        missing = sorted(k for k in own if k not in state_dict)
        unexpected = sorted(k for k in state_dict if k not in own)
        if missing:
            raise KeyError(
                f'{filename} lacks {len(missing)} key(s) of '
                f'{type(self).__name__}(depth={self.depth}, '
                f'conv_type={self.conv_type!r}): {_first(missing)}')
        mismatched = sorted(
            k for k in own
            if tuple(state_dict[k].shape) != tuple(own[k].shape))
        if mismatched:
            raise ValueError(
                f'{filename} has shapes that differ from the model at: ' +
                ', '.join(f'{k} {tuple(state_dict[k].shape)} vs '
                          f'{tuple(own[k].shape)}' for k in mismatched[:10]))
        if unexpected:
            warnings.warn(
                f'{filename}: {len(unexpected)} key(s) not used by the '
                f'backbone: {_first(unexpected)}')
            print_log(f'unused keys in {filename}: {unexpected}',
                      logger='current', level=30)
        self.load_state_dict({k: state_dict[k] for k in own}, strict=True)

    def forward(self, x):
        """Features of a clip batch ``(N, C, T, H, W)``.

        Returns:
            torch.Tensor | tuple[torch.Tensor]: The outputs of the stages in
            ``out_indices``; one tensor when there is one.
        """
        x = self.conv1(x)
        if self.with_pool1:
            x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i == 0 and self.with_pool2:
                x = self.pool2(x)
            if i in self.out_indices:
                outs.append(x.contiguous())
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            self.conv1.eval()
            self.conv1.requires_grad_(False)
        for i in range(1, self.frozen_stages + 1):
            layer = getattr(self, f'layer{i}')
            layer.eval()
            layer.requires_grad_(False)

    def train(self, mode=True):
        """Set train mode, keeping frozen stages and (``norm_eval``) BN in
        eval mode. A deployed backbone refuses to train.

        Returns:
            FactorizedResNet3d: ``self``, as ``nn.Module.train`` does.
        """
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        fold_frozen_bn_per_call(self)
        return self


def _first(keys, n=10):
    more = f' ... and {len(keys) - n} more' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more
