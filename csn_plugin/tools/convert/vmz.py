"""VMZ's PyTorch CSNs (``vmz.models.ir_csn_152`` / ``ip_csn_152``).

They are torchvision ``VideoResNet`` s (facebookresearch/VMZ,
``pt/vmz/models/csn.py`` and ``utils.py``):

- Stem ``BasicStem_Pool``: ``stem.0`` conv 3x7x7, ``stem.1`` BN, ReLU,
  1x3x3 max-pool.
- Blocks ``layer{1-4}.{i}`` are torchvision's ``Bottleneck``:
  ``conv1.{0,1}`` (1x1x1 conv, BN), ``conv2.{0,1}`` (the 3x3x3 position,
  BN), ``conv3.{0,1}``, and ``downsample.{0,1}`` in each stage's first
  block. ir: ``conv2.0`` is the depthwise conv. ip: ``conv2.0`` is
  ``[1x1x1 conv, BN, depthwise conv]`` with no ReLU between them, so its
  keys are ``conv2.0.0``, ``conv2.0.1``, ``conv2.0.2``.
- Classifier ``fc`` after global average pooling.
- Every BN has eps 1e-3 and, by mistake, momentum 0.9 (in PyTorch's
  convention that gives each new batch 90 % weight; Caffe2's 0.9 keeps 90 %
  of the running value).

The published files are plain state dicts; VMZ's training script saves
``dict(model=state_dict, optimizer=..., lr_scheduler=..., epoch=...,
args=Namespace)``, which is read too.
"""
import argparse

from . import vmz_caffe2
from .layout import Layout, NetworkSpec, stage_blocks
from .reading import (ConversionError, load_torch, require_keys,
                      split_state_dict, unknown_layout)

NAME = 'vmz'


def _units(conv2):
    return {
        'conv1': ('{block}.conv1.0', '{block}.conv1.1'),
        **conv2,
        'conv3': ('{block}.conv3.0', '{block}.conv3.1'),
        'downsample': ('{block}.downsample.0', '{block}.downsample.1'),
    }


LAYOUT = Layout(
    stem=('stem.0', 'stem.1'),
    block='layer{stage}.{index}',
    units={
        'ir': _units({'conv2.0': ('{block}.conv2.0', '{block}.conv2.1')}),
        'ip': _units({
            'conv2.0': ('{block}.conv2.0.0', '{block}.conv2.0.1'),
            'conv2.1': ('{block}.conv2.0.2', '{block}.conv2.1'),
        }),
    },
    head='fc')

#: The same networks as VMZ's Caffe2 models, so the same configs
BASE_CONFIGS = vmz_caffe2.BASE_CONFIGS


def defaults(spec):
    """The values the weights cannot tell: VideoResNet's stem pools, its
    stages 2-4 stride 2 in time, ``AdaptiveAvgPool3d(1)`` pools globally and
    ``fc`` gives logits."""
    return vmz_caffe2.VMZ_SETTINGS, "VMZ's published CSNs"

NOTES = (
    "BN momentum: VMZ's PyTorch models set momentum=0.9, which in PyTorch "
    'gives each new batch 90 % weight (meant as Caffe2\'s 0.9). The running '
    'statistics are copied as they are; the config keeps MMAction2\'s '
    'momentum 0.1 (Caffe2\'s 0.9). A file fine-tuned in train mode with '
    "VMZ's code has statistics of its last few batches.",
)


def infer(path, state):
    """The network a VMZ state dict describes."""
    require_keys(path, state, (('stem.0.weight', "a VMZ VideoResNet's stem"),
                               ('layer1.0.conv1.0.weight', 'its first block'),
                               ('fc.weight', 'its classifier')))
    if 'stem.3.weight' in state:
        raise ConversionError(
            f'{path}: unknown layout: stem.3.weight is the (2+1)D stem of an '
            f'R(2+1)D model, not a CSN')
    if 'layer1.0.conv2.0.0.weight' in state:
        mode, depthwise = 'ip', 'layer1.0.conv2.0.2.weight'
        pointwise = state['layer1.0.conv2.0.0.weight']
        if tuple(pointwise.shape[2:]) != (1, 1, 1):
            raise ConversionError(
                f'{path}: unknown layout: layer1.0.conv2.0.0.weight has '
                f'shape {tuple(pointwise.shape)}; ip-CSN starts its 3x3x3 '
                f'position with a 1x1x1 conv (an R(2+1)D has a 1x3x3 one)')
    else:
        mode, depthwise = 'ir', 'layer1.0.conv2.0.weight'
    if depthwise not in state:
        raise unknown_layout(path, depthwise, state,
                             f"a VMZ {mode}-CSN's first block")
    if state[depthwise].shape[1] != 1:
        raise ConversionError(
            f'{path}: unknown layout: {depthwise} has shape '
            f'{tuple(state[depthwise].shape)}, a dense conv; CSN convs are '
            f'depthwise (one input channel each)')
    blocks = stage_blocks(LAYOUT, state)
    if len(blocks) != 4:
        raise ConversionError(
            f'{path}: unknown layout: {len(blocks)} stages (layer1 to '
            f'layer{len(blocks)}) with {blocks} blocks; a CSN has 4')
    return NetworkSpec(
        mode=mode,
        stage_blocks=blocks,
        num_classes=int(state['fc.weight'].shape[0]),
        base_channels=int(state['stem.0.weight'].shape[0]),
        norm_eps=1e-3)


def read(path):
    """``(tensors, other entries, NetworkSpec)`` of a VMZ ``.pth``."""
    # VMZ's training checkpoints keep the state dict under 'model' and the
    # run's arguments as an argparse.Namespace.
    data = load_torch(path, safe_globals=[argparse.Namespace])
    tensors, other = split_state_dict(path, data, 'model')
    return tensors, other, infer(path, tensors)
