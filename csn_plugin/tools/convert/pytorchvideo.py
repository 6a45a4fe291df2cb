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
#: the release whose create_csn the argument table follows
SOURCE = 'pytorchvideo 0.1.5'
#: the hub csn_r101: create_csn(model_depth=101, stem_pool=nn.MaxPool3d,
#: head_pool_kernel_size=(4, 7, 7)), the rest create_csn's defaults
HUB_SETTINGS = dict(with_pool1=True, head_pool=(4, 7, 7),
                    temporal_strides=(1, 2, 2, 2), head_activation=None)
#: (depth, stem width, classes) of the hub csn_r101
HUB_NETWORK = (101, 64, 400)
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


def defaults(spec):
    """The values the weights cannot tell: the hub ``csn_r101``'s for its
    network; none for any other (``create_csn``'s arguments vary)."""
    if (spec.depth, spec.base_channels, spec.num_classes) == HUB_NETWORK:
        return HUB_SETTINGS, "the hub's csn_r101"
    return {}, (f"{spec.name} with stem width {spec.base_channels} and "
                f"{spec.num_classes} classes is not the hub's csn_r101 "
                f"(ir-CSN-101, stem width 64, 400 classes), whose create_csn "
                f"arguments are known")


#: create_csn's arguments and defaults (pytorchvideo 0.1.5), classes by name
CREATE_CSN_DEFAULTS = dict(
    input_channel=3, model_depth=50, model_num_class=400, dropout_rate=0,
    norm='BatchNorm3d', activation='ReLU', stem_dim_out=64,
    stem_conv_kernel_size=(3, 7, 7), stem_conv_stride=(1, 2, 2),
    stem_pool=None, stem_pool_kernel_size=(1, 3, 3),
    stem_pool_stride=(1, 2, 2), stage_conv_a_kernel_size=(1, 1, 1),
    stage_conv_b_kernel_size=(3, 3, 3), stage_conv_b_width_per_group=1,
    stage_spatial_stride=(1, 2, 2, 2), stage_temporal_stride=(1, 2, 2, 2),
    bottleneck='create_bottleneck_block', bottleneck_ratio=4,
    head_pool='AvgPool3d', head_pool_kernel_size=(1, 7, 7),
    head_output_size=(1, 1, 1), head_activation=None,
    head_output_with_global_average=True)
#: settings whose create_csn default differs between pytorchvideo sources
#: (an early create_csn had stage_temporal_stride=(1, 2, 2, 1) and
#: head_activation=nn.Softmax; 0.1.5 has (1, 2, 2, 2) and None): the
#: argument must be named, or the flag given
VERSION_DEPENDENT = {
    'temporal_strides': 'stage_temporal_stride',
    'head_activation': 'head_activation',
}
#: arguments the plugin's ResNet3dCSN and heads hold at one value only
FIXED = ('input_channel', 'norm', 'activation', 'stem_conv_kernel_size',
         'stem_conv_stride', 'stem_pool_kernel_size', 'stem_pool_stride',
         'stage_conv_a_kernel_size', 'stage_conv_b_kernel_size',
         'stage_conv_b_width_per_group', 'stage_spatial_stride',
         'bottleneck', 'bottleneck_ratio', 'head_output_size',
         'head_output_with_global_average')


def _name(value):
    """A class given by name (``"nn.Softmax"``, ``"torch.nn.MaxPool3d"``)
    as its bare lower-case name; None stays None."""
    if value is None:
        return None
    return str(value).rsplit('.', 1)[-1].lower()


def _plain(value):
    return tuple(value) if isinstance(value, list) else value


def settings_from_create_csn(path, spec, args):
    """What ``create_csn(**args)`` built, in :data:`conversion.SETTINGS`
    terms, checked against the weights and the plugin.

    Args:
        path (str): The source file, for messages.
        spec (NetworkSpec): The network the weights hold.
        args (dict): ``create_csn``'s keyword arguments (JSON values;
            classes by name).

    Returns:
        tuple[dict, dict]: The settings the arguments give, and those that
        take ``create_csn``'s defaults.

    Raises:
        ConversionError: An unknown argument, one the weights contradict or
            one the plugin cannot build.
    """
    if not isinstance(args, dict):
        raise ConversionError('--create-csn-args must be a JSON object of '
                              f'create_csn arguments, not {args!r}')
    unknown = sorted(set(args) - set(CREATE_CSN_DEFAULTS))
    if unknown:
        raise ConversionError(
            f'--create-csn-args: create_csn ({SOURCE}) has no argument '
            f'{", ".join(unknown)}; it has {", ".join(CREATE_CSN_DEFAULTS)}')
    full = {key: _plain(args.get(key, default))
            for key, default in CREATE_CSN_DEFAULTS.items()}
    weights = dict(model_depth=spec.depth, model_num_class=spec.num_classes,
                   stem_dim_out=spec.base_channels)
    for key, value in weights.items():
        if full[key] != value:
            raise ConversionError(
                f'{path}: --create-csn-args {key}={full[key]} '
                f'{"(its default) " if key not in args else ""}but the '
                f'weights hold {key}={value}')
    for key in FIXED:
        value, plugin = full[key], CREATE_CSN_DEFAULTS[key]
        if isinstance(plugin, str):
            value, plugin = _name(value), plugin.lower()
        if value != plugin:
            raise ConversionError(
                f'--create-csn-args {key}={args[key]!r}: the plugin\'s '
                f'ResNet3dCSN and heads build only {key}='
                f'{CREATE_CSN_DEFAULTS[key]!r}')
    settings = {}
    stem_pool = _name(full['stem_pool'])
    if stem_pool not in (None, 'maxpool3d'):
        raise ConversionError(f'--create-csn-args stem_pool='
                              f'{args["stem_pool"]!r}: the plugin\'s stem '
                              'pool is a MaxPool3d (or none: null)')
    settings['with_pool1'] = stem_pool is not None
    head_pool = _name(full['head_pool'])
    if head_pool == 'avgpool3d':
        settings['head_pool'] = tuple(full['head_pool_kernel_size'])
    elif head_pool == 'adaptiveavgpool3d':
        settings['head_pool'] = None  # output size (1, 1, 1): global
    else:
        raise ConversionError(
            f'--create-csn-args head_pool={full["head_pool"]!r}: the plugin '
            'pools with AvgPool3d (a fixed window) or AdaptiveAvgPool3d '
            '(global average)')
    settings['temporal_strides'] = tuple(full['stage_temporal_stride'])
    activation = _name(full['head_activation'])
    if activation not in (None, 'softmax', 'sigmoid'):
        raise ConversionError(
            f'--create-csn-args head_activation='
            f'{args["head_activation"]!r}: the plugin\'s head applies '
            'Softmax, Sigmoid or none (null)')
    settings['head_activation'] = activation
    sources = dict(with_pool1=('stem_pool', ),
                   head_pool=('head_pool', 'head_pool_kernel_size'),
                   temporal_strides=('stage_temporal_stride', ),
                   head_activation=('head_activation', ))
    explicit = {name: value for name, value in settings.items()
                if any(key in args for key in sources[name])}
    return explicit, {name: value for name, value in settings.items()
                      if name not in explicit}
