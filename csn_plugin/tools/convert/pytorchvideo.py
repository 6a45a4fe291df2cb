"""PyTorchVideo's CSNs (``pytorchvideo.models.csn.create_csn``, hub
``csn_r101``).

Layout (facebookresearch/pytorchvideo, ``pytorchvideo/models/csn.py``,
``resnet.py``, ``stem.py``, ``head.py``; hub ``models/hub/csn.py``):

- ``blocks.0``: stem, ``conv`` (3x7x7) and ``norm``; a 1x3x3 max-pool only
  if ``stem_pool`` is given (``create_csn``'s default has none, the hub's
  ``csn_r101`` passes ``nn.MaxPool3d``).
- ``blocks.{1-4}.res_blocks.{i}``: ``branch1_conv`` / ``branch1_norm`` (the
  projection shortcut of each stage's first block) and ``branch2``:
  ``conv_a``/``norm_a`` (1x1x1), ``conv_b``/``norm_b`` (3x3x3 depthwise,
  carrying the stride), ``conv_c``/``norm_c`` (1x1x1). This is ir-CSN.
- ``blocks.5``: head, ``AvgPool3d(head_pool_kernel_size, stride=1)``, the
  ``proj`` linear layer at every window position, then the mean over the
  positions. The hub's window is (4, 7, 7); ``create_csn``'s default
  (1, 7, 7).
- Every ``nn.BatchNorm3d`` keeps PyTorch's default eps, 1e-5.

The hub checkpoint keeps the state dict under ``model_state`` (the hub code
reads it there); a bare state dict is read too.
"""
from .layout import Layout, NetworkSpec, stage_blocks
from .reading import (ConversionError, load_torch, require_keys,
                      split_state_dict)

NAME = 'pytorchvideo'

LAYOUT = Layout(
    stem=('blocks.0.conv', 'blocks.0.norm'),
    block='blocks.{stage}.res_blocks.{index}',
    units={
        'ir': {
            'conv1': ('{block}.branch2.conv_a', '{block}.branch2.norm_a'),
            'conv2.0': ('{block}.branch2.conv_b', '{block}.branch2.norm_b'),
            'conv3': ('{block}.branch2.conv_c', '{block}.branch2.norm_c'),
            'downsample': ('{block}.branch1_conv', '{block}.branch1_norm'),
        },
    },
    head='blocks.5.proj')

#: depth 101 is the hub model; others extend its config
BASE_CONFIGS = {'ir': 'ircsn_pytorchvideo_r101_32x2x1_kinetics400.py'}
#: the hub csn_r101's head_pool_kernel_size
HEAD_POOL = (4, 7, 7)
#: PySlowFast's DATA.MEAN / DATA.STD (0.45, 0.225), on the 0-255 scale
MEAN, STD = (114.75, ) * 3, (57.375, ) * 3
NOTES = ("BN eps 1e-5 (PyTorchVideo's BatchNorm3d default; MMAction2's CSN "
         'configs use 1e-3), set in the config', )


def infer(path, state):
    """The network a ``create_csn`` state dict describes."""
    require_keys(path, state,
                 (('blocks.0.conv.weight', "create_csn's stem"),
                  ('blocks.1.res_blocks.0.branch2.conv_b.weight',
                   'its first block')))
    blocks = stage_blocks(LAYOUT, state)
    head = 'blocks.5.proj.weight'
    if len(blocks) != 4 or head not in state:
        raise ConversionError(
            f'{path}: unknown layout: {len(blocks)} stages, '
            f'{head} {"present" if head in state else "absent"}; '
            f'create_csn has 4 stages (blocks.1-4) and its head in blocks.5')
    conv_b = 'blocks.1.res_blocks.0.branch2.conv_b.weight'
    if state[conv_b].shape[1] != 1:
        raise ConversionError(
            f'{path}: unknown layout: {conv_b} has shape '
            f'{tuple(state[conv_b].shape)}, a dense conv; create_csn\'s '
            f'conv_b is depthwise (one input channel each): not a CSN')
    return NetworkSpec(
        mode='ir',
        stage_blocks=blocks,
        num_classes=int(state[head].shape[0]),
        base_channels=int(state['blocks.0.conv.weight'].shape[0]),
        norm_eps=1e-5,
        mean=MEAN,
        std=STD)


def read(path):
    """``(tensors, other entries, NetworkSpec)`` of a PyTorchVideo
    checkpoint."""
    tensors, other = split_state_dict(path, load_torch(path), 'model_state')
    return tensors, other, infer(path, tensors)
