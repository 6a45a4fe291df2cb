"""The network a source holds, and where a source format keeps its keys.

:class:`NetworkSpec` describes the network in the plugin's terms (mode,
blocks per stage, classes, width, BN eps, pooling) and gives the config
values that build it. :class:`Layout` is a format's table of key-name
templates; :func:`key_pairs` walks the plugin's ``Recognizer3D`` (stem,
stages, blocks, head) and pairs each of its keys with the source's.
"""
from dataclasses import dataclass, field
from typing import Optional

from ...models import ResNet3dCSN
from .reading import ConversionError

__all__ = ['NetworkSpec', 'Layout', 'key_pairs', 'stage_blocks', 'source_keys']


@dataclass
class NetworkSpec:
    """The network a source checkpoint holds, in the plugin's terms.

    Args:
        mode (str): ``'ir'`` or ``'ip'`` (``ResNet3dCSN.bottleneck_mode``).
        stage_blocks (tuple[int]): Blocks per stage.
        num_classes (int): Classifier outputs.
        base_channels (int): Stem width. Defaults to 64.
        norm_eps (float): BatchNorm epsilon. Defaults to 1e-3 (VMZ).
        with_pool1 (bool): Stem max-pool. Defaults to True.
        head_pool (tuple[int], optional): Fixed ``(t, h, w)`` pooling window
            of the head (``FixedPoolI3DHead``); None pools globally
            (``I3DHead``).
        mean, std (tuple[float], optional): Input statistics (0-255 scale)
            where the source fixes them; None keeps the base config's.
        temporal_strides (tuple[int]): Temporal stride of each stage.
            Defaults to (1, 2, 2, 2).
        head_activation (str, optional): ``'softmax'`` or ``'sigmoid'``
            applied by the head at each window position
            (``FixedPoolI3DHead.activation``); None for logits.
    """

    mode: str
    stage_blocks: tuple
    num_classes: int
    base_channels: int = 64
    norm_eps: float = 1e-3
    with_pool1: bool = True
    head_pool: Optional[tuple] = None
    mean: Optional[tuple] = None
    std: Optional[tuple] = None
    temporal_strides: tuple = (1, 2, 2, 2)
    head_activation: Optional[str] = None

    #: spatial stride of each stage (every CSN source here)
    SPATIAL_STRIDES = (1, 2, 2, 2)

    #: blocks per stage -> depth, from ResNet3dCSN's arch table
    DEPTHS = {
        tuple(blocks): depth
        for depth, (_, blocks) in ResNet3dCSN.arch_settings.items()
    }

    @property
    def depth(self):
        return self.DEPTHS.get(tuple(self.stage_blocks))

    @property
    def name(self):
        return f'{self.mode}-CSN-{self.depth}'

    def check(self, path):
        """Raise ConversionError if the plugin cannot hold this network."""
        if self.depth is None:
            known = ', '.join(f'{d}: {b}' for b, d in self.DEPTHS.items())
            raise ConversionError(
                f'{path}: unknown layout: {tuple(self.stage_blocks)} blocks '
                f'per stage match no ResNet3dCSN depth ({known})')
        strides = tuple(self.temporal_strides)
        if len(strides) != 4 or min(strides) < 1:
            raise ConversionError(
                f'temporal strides must be four positive integers, one a '
                f'stage, not {strides}')
        if self.head_activation is not None and self.head_pool is None:
            raise ConversionError(
                f'--head-activation {self.head_activation} needs a fixed '
                f'head pooling window (--head-pool T H W): the plugin '
                f'applies it at each window position (FixedPoolI3DHead)')

    def feature_map(self, clip):
        """The ``(t, h, w)`` of the last stage's features for a
        ``(t, h, w)`` clip: the stem's 3x7x7 conv (spatial stride 2), the
        stem max-pool (spatial stride 2) and each stage's 3x3x3 conv, all
        padded to keep ``ceil(size / stride)``."""

        def down(size, stride):
            return (size - 1) // stride + 1

        t, h, w = clip
        h, w = down(h, 2), down(w, 2)
        if self.with_pool1:
            h, w = down(h, 2), down(w, 2)
        for t_stride, s_stride in zip(self.temporal_strides,
                                      self.SPATIAL_STRIDES):
            t, h, w = down(t, t_stride), down(h, s_stride), down(w, s_stride)
        return t, h, w

    def overrides(self):
        """Config values (dotted keys) that make this network."""
        values = {
            'model.backbone.depth': self.depth,
            'model.backbone.bottleneck_mode': self.mode,
            'model.backbone.base_channels': self.base_channels,
            'model.backbone.norm_cfg.eps': self.norm_eps,
            'model.backbone.with_pool1': self.with_pool1,
            'model.backbone.temporal_strides': tuple(self.temporal_strides),
            'model.cls_head.type': ('FixedPoolI3DHead'
                                    if self.head_pool else 'I3DHead'),
            'model.cls_head.num_classes': self.num_classes,
            'model.cls_head.in_channels': self.base_channels * 32,
        }
        if self.head_pool:
            values['model.cls_head.pool_size'] = tuple(self.head_pool)
            if self.head_activation:
                values['model.cls_head.activation'] = self.head_activation
                # the head's scores are probabilities: average them
                values['model.cls_head.average_clips'] = 'score'
        else:
            values['model.cls_head.spatial_type'] = 'avg'
        if self.mean is not None:
            values['model.data_preprocessor.mean'] = list(self.mean)
            values['model.data_preprocessor.std'] = list(self.std)
        return values

    def describe(self, pooling_only=False):
        """One line for the report."""
        head = (f'fixed {self.head_pool} average window'
                if self.head_pool else 'global average')
        pooling = (f'stem max-pool {"on" if self.with_pool1 else "off"}, '
                   f'head pool: {head}, temporal strides '
                   f'{tuple(self.temporal_strides)}, head activation '
                   f'{self.head_activation or "none"}')
        if pooling_only:
            return pooling
        return (f'{self.name} (blocks per stage {tuple(self.stage_blocks)}), '
                f'{self.num_classes} classes, stem width '
                f'{self.base_channels}, BN eps {self.norm_eps:g}, {pooling}')


#: BatchNorm state in the plugin's (and PyTorch's) order
BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var',
             'num_batches_tracked')
#: PyTorch sources: parameter names as they are
TORCH_CONV = {'weight': '{name}.weight'}
TORCH_BN = {p: '{name}.' + p for p in BN_PARAMS}
TORCH_FC = {'weight': '{name}.weight', 'bias': '{name}.bias'}

#: The plugin's units (conv + BN) in a block, in state-dict order
UNITS = {
    'ir': ('conv1', 'conv2.0', 'conv3', 'downsample'),
    'ip': ('conv1', 'conv2.0', 'conv2.1', 'conv3', 'downsample'),
}


@dataclass(frozen=True)
class Layout:
    """Where a source format keeps each part of a CSN: name templates.

    Templates may use ``{stage}`` (1 to 4), ``{index}`` (block in its
    stage), ``{i}`` (block over all stages) and ``{block}`` (the block's
    prefix, from ``block``).

    Args:
        stem (tuple[str]): Source names of the stem conv and BN.
        block (str): Template of a block's prefix.
        units (dict): Mode -> {plugin unit: (conv, BN) templates}, for the
            plugin's units (:data:`UNITS`).
        head (str): Name of the classifier; may use ``{num_classes}``.
        conv_params, norm_params, fc_params (dict): Plugin parameter ->
            source key template on a layer's name (``{name}``). A BN
            parameter missing from ``norm_params`` (``num_batches_tracked``
            in Caffe2) is set to 0.
    """

    stem: tuple
    block: str
    units: dict
    head: str
    conv_params: dict = field(default_factory=lambda: TORCH_CONV)
    norm_params: dict = field(default_factory=lambda: TORCH_BN)
    fc_params: dict = field(default_factory=lambda: TORCH_FC)


def key_pairs(layout, spec):
    """``(plugin key, source key or None)`` for every key of the plugin's
    ``Recognizer3D``, in its state-dict order."""
    pairs = []

    def unit(ours, conv, norm):
        for param, template in layout.conv_params.items():
            pairs.append((f'{ours}.conv.{param}', template.format(name=conv)))
        for param in BN_PARAMS:
            template = layout.norm_params.get(param)
            pairs.append((f'{ours}.bn.{param}',
                          template and template.format(name=norm)))

    unit('backbone.conv1', *layout.stem)
    i = 0
    for stage, num_blocks in enumerate(spec.stage_blocks, 1):
        for index in range(num_blocks):
            names = dict(stage=stage, index=index, i=i)
            names['block'] = layout.block.format(**names)
            for ours in UNITS[spec.mode]:
                if ours == 'downsample' and index > 0:
                    continue  # only the first block of a stage projects
                conv, norm = layout.units[spec.mode][ours]
                unit(f'backbone.layer{stage}.{index}.{ours}',
                     conv.format(**names), norm.format(**names))
            i += 1
    head = layout.head.format(num_classes=spec.num_classes)
    for param, template in layout.fc_params.items():
        pairs.append((f'cls_head.fc_cls.{param}', template.format(name=head)))
    return pairs


def stage_blocks(layout, keys):
    """Blocks per stage of a source whose blocks are named by stage and
    index (``layout.block``), counted by the key of each block's first conv;
    stages are counted from 1 until one has no block."""
    conv = layout.units['ir']['conv1'][0]

    def first_conv(stage, index):
        block = layout.block.format(stage=stage, index=index)
        return layout.conv_params['weight'].format(
            name=conv.format(block=block))

    counts = []
    while first_conv(len(counts) + 1, 0) in keys:
        index = 0
        while first_conv(len(counts) + 1, index) in keys:
            index += 1
        counts.append(index)
    return tuple(counts)


def source_keys(layout, spec):
    """The source keys a network of ``spec`` has, in conversion order."""
    return [src for _, src in key_pairs(layout, spec) if src is not None]
