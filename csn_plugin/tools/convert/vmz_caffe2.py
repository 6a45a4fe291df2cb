"""VMZ's Caffe2 models: ``.pkl`` files of named numpy blobs.

The names come from VMZ's Caffe2 model builders (facebookresearch/VMZ,
``c2/lib/models/r3d_model.py`` and ``builder/video_model.py``) and are the
ones VMZ's own ``utilities/model_conversion/convert_models.py`` reads:

- The file is ``dict(blobs={name: array})`` (``c2/tools/minidb_to_pickle.py``),
  pickled by Python 2.
- Stem: ``conv1_w`` and BN ``conv1_spatbn_relu_{s,b,rm,riv}`` (scale, bias,
  running mean, running variance).
- Blocks ("components") are numbered by ``i`` over all stages. In a block a
  counter numbers the convs: ``comp_{i}_conv_1`` (1x1x1) with
  ``comp_{i}_spatbn_1``, then the 3x3x3 position, then the last 1x1x1 conv.
  ir-CSN (``3d-sep``): the depthwise conv is ``conv_3`` (the counter moves
  twice), the last ``conv_4``. ip-CSN (``0.3d``): ``conv_2_middle``
  (1x1x1) with ``spatbn_2_middle``, the depthwise ``conv_2``, the last
  ``conv_3``.
- The first block of each stage has ``shortcut_projection_{i}_w`` and
  ``shortcut_projection_{i}_spatbn_*``.
- Classifier: ``last_out_L{N}_{w,b}`` (N: 487 Sports-1M, 359 IG-65M, 400
  Kinetics).

Conv and FC arrays have PyTorch's shapes. The stem max-pool (``use_pool1``)
and the head's pooling leave no blob: the published CSNs were run with
``--use_pool1=1``.
"""
import re

import numpy as np

from .layout import Layout, NetworkSpec
from .reading import ConversionError, load_pickle, unknown_layout

NAME = 'vmz-caffe2'

LAYOUT = Layout(
    stem=('conv1', 'conv1_spatbn_relu'),
    block='comp_{i}',
    units={
        'ir': {
            'conv1': ('{block}_conv_1', '{block}_spatbn_1'),
            'conv2.0': ('{block}_conv_3', '{block}_spatbn_3'),
            'conv3': ('{block}_conv_4', '{block}_spatbn_4'),
            'downsample':
            ('shortcut_projection_{i}', 'shortcut_projection_{i}_spatbn'),
        },
        'ip': {
            'conv1': ('{block}_conv_1', '{block}_spatbn_1'),
            'conv2.0': ('{block}_conv_2_middle', '{block}_spatbn_2_middle'),
            'conv2.1': ('{block}_conv_2', '{block}_spatbn_2'),
            'conv3': ('{block}_conv_3', '{block}_spatbn_3'),
            'downsample':
            ('shortcut_projection_{i}', 'shortcut_projection_{i}_spatbn'),
        },
    },
    head='last_out_L{num_classes}',
    conv_params={'weight': '{name}_w'},
    norm_params={
        'weight': '{name}_s',
        'bias': '{name}_b',
        'running_mean': '{name}_rm',
        'running_var': '{name}_riv',
    },
    fc_params={
        'weight': '{name}_w',
        'bias': '{name}_b'
    })

#: (mode, depth) -> plugin config to compare with; by mode otherwise
BASE_CONFIGS = {
    ('ir', 50): 'ircsn_ig65m_r50_32x2x1_kinetics400.py',
    'ir': 'ircsn_ig65m_r152_32x2x1_kinetics400.py',
    'ip': 'ipcsn_ig65m_r152_32x2x1_kinetics400.py',
}
#: What the weights do not tell, as VMZ's published CSNs have it: the stem
#: max-pool (use_pool1), temporal stride 2 in stages 2-4, logits; VMZ
#: trained with a (T/8, 7, 7) average pool at 224x224, i.e. global average
#: pooling, which MMAction2's configs keep at any crop size.
VMZ_SETTINGS = dict(with_pool1=True, head_pool=None,
                    temporal_strides=(1, 2, 2, 2), head_activation=None)


def defaults(spec):
    """The values the weights cannot tell, and whose they are."""
    return VMZ_SETTINGS, "VMZ's published CSNs"
NOTES = ('Caffe2 BN blobs _s, _b, _rm, _riv are weight, bias, running mean '
         'and running variance; eps 1e-3 as in VMZ',)


def read_blobs(path):
    """The blobs of a VMZ ``.pkl`` and the names of other top-level
    entries."""
    data = load_pickle(path)
    if not isinstance(data, dict):
        raise ConversionError(
            f'{path}: holds a {type(data).__name__}, not the dict of blobs '
            f'VMZ writes')
    if 'blobs' in data:
        blobs, other = data['blobs'], [k for k in data if k != 'blobs']
        if not isinstance(blobs, dict):
            raise ConversionError(
                f"{path}: 'blobs' is a {type(blobs).__name__}, not a dict")
    else:  # a bare blob dict, which VMZ's model loader also accepts
        blobs, other = data, []
    arrays = {}
    for name, value in blobs.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in 'biuf':
            arrays[str(name)] = value
        else:
            other.append(str(name))
    return arrays, other


def infer(path, blobs):
    """The network the blobs describe."""
    comps = sorted(
        int(m.group(1)) for m in map(re.compile(r'comp_(\d+)_conv_1_w').
                                     fullmatch, blobs) if m)
    if not comps:
        raise unknown_layout(path, 'comp_0_conv_1_w', blobs,
                             "a VMZ ResNet's first block")
    if comps != list(range(len(comps))):
        gaps = sorted(set(range(comps[-1] + 1)) - set(comps))
        raise ConversionError(
            f'{path}: unknown layout: blocks are numbered 0..{comps[-1]} '
            f'but comp_{gaps[0]}_conv_1_w is missing')
    if 'conv1_middle_w' in blobs:
        raise ConversionError(
            f'{path}: unknown layout: conv1_middle_w is the (2+1)D stem of '
            f'an R(2+1)D model, not a CSN')
    if 'comp_0_conv_2_middle_w' in blobs:
        mode = 'ip'
    elif 'comp_0_conv_3_w' in blobs and 'comp_0_conv_4_w' in blobs:
        mode = 'ir'
    else:
        raise ConversionError(
            f'{path}: unknown layout: comp_0 has neither comp_0_conv_2_middle'
            f'_w (ip-CSN) nor comp_0_conv_3_w and comp_0_conv_4_w (ir-CSN): '
            f'not a bottleneck CSN (an R3D has comp_0_conv_2_w alone)')
    starts = [i for i in comps if f'shortcut_projection_{i}_w' in blobs]
    if len(starts) != 4 or starts[0] != 0:
        raise ConversionError(
            f'{path}: unknown layout: shortcut projections at blocks '
            f'{starts}; a 4-stage bottleneck ResNet has one at the first '
            f'block of each stage, block 0 included')
    stage_blocks = tuple(
        b - a for a, b in zip(starts, starts[1:] + [len(comps)]))
    heads = sorted(
        int(m.group(1)) for m in map(re.compile(r'last_out_L(\d+)_w').
                                     fullmatch, blobs) if m)
    if len(heads) != 1:
        raise ConversionError(
            f'{path}: expected one classifier last_out_L<N>_w, found ' +
            (', '.join(f'last_out_L{n}_w' for n in heads) or 'none'))
    if 'conv1_w' not in blobs:
        raise unknown_layout(path, 'conv1_w', blobs, 'a VMZ CSN stem')
    return NetworkSpec(
        mode=mode,
        stage_blocks=stage_blocks,
        num_classes=heads[0],
        base_channels=int(blobs['conv1_w'].shape[0]),
        norm_eps=1e-3)


def read(path):
    """``(blobs, other entries, NetworkSpec)`` of a VMZ Caffe2 ``.pkl``."""
    blobs, other = read_blobs(path)
    return blobs, other, infer(path, blobs)
