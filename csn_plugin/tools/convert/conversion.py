"""Convert a source with its format module: check the result against the
plugin's model (keys, shapes, ``strict=True``), report every source key used
and unused, and write the checkpoint and the network's config."""
import collections
import os
import os.path as osp
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config

from ...version import __version__
from ..complexity import build_on_meta, configs_root
from .layout import NetworkSpec, key_pairs
from .reading import ConversionError

__all__ = [
    'Conversion', 'convert', 'network_config', 'config_text', 'write_config'
]


@dataclass
class Conversion:
    """The result of :func:`convert`; :meth:`report` prints it."""

    source_format: str
    path: str
    spec: NetworkSpec
    pairs: list
    unused: list
    filled: list
    base_config: str
    differences: list
    notes: list
    state_dict: collections.OrderedDict
    model_cfg: Config
    settings: list = None
    clip_check: Optional[str] = None
    dst: Optional[str] = None
    config_path: Optional[str] = None

    def report(self):
        """Lines: the network, every used and unused source key, the keys
        set without a source key, notes, and what was written."""
        filled = set(self.filled)
        used = [(ours, src) for ours, src in self.pairs
                if src is not None and ours not in filled]
        lines = [
            f'source: {self.source_format} {self.path}',
            f'network: {self.spec.describe()}',
            f'mode: {self.spec.mode}, depth: {self.spec.depth}, classes: '
            f'{self.spec.num_classes}',
            f'used {len(used)} source keys:',
        ]
        lines += [f'  {src} -> {ours}' for ours, src in used]
        lines.append(f'unused {len(self.unused)} source keys' +
                     (':' if self.unused else ''))
        lines += [f'  {key}' for key in self.unused]
        if self.filled:
            lines.append(f'set without a source key ({len(self.filled)}): '
                         'BatchNorm num_batches_tracked counters, set to 0')
        lines += [f'note: {note}' for note in self.notes]
        lines.append('not in the weights (given or assumed):')
        lines += [f'  {label}: {value} ({origin})'
                  for label, value, origin in self.settings or ()]
        if self.clip_check:
            lines.append(f'checked: {self.clip_check}')
        base = osp.basename(self.base_config)
        if self.differences:
            lines.append(f'config: the network differs from {base} in:')
            lines += [f'  {key}: {new!r} (config: {old!r})'
                      for key, old, new in self.differences]
            if not self.config_path:
                lines.append('  pass --config OUT.py to write a config for '
                             'it')
        else:
            lines.append(f'config: the network is the one of {base}')
        if self.dst:
            lines.append(f'wrote {self.dst}: {len(self.state_dict)} keys in '
                         "MMAction2's Recognizer3D layout, loaded with "
                         'strict=True into the model of the config')
        if self.config_path:
            lines.append(f'wrote {self.config_path}')
        return lines


def _get(cfg, dotted, default=None):
    node = cfg
    for part in dotted.split('.'):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


#: Class counts of the published VMZ and PyTorchVideo classifiers
KNOWN_CLASS_COUNTS = {
    400: 'Kinetics-400',
    487: 'Sports-1M (pretraining)',
    359: 'IG-65M (pretraining hashtags)',
}

#: ResNet3dCSN and I3DHead defaults of keys a base config may leave out
IMPLICIT = {
    'model.backbone.base_channels': 64,
    'model.backbone.with_pool1': True,
    'model.cls_head.spatial_type': 'avg',
    'model.backbone.temporal_strides': (1, 2, 2, 2),
}

#: What the weights cannot tell: NetworkSpec field -> (what it is, the
#: command-line flags that give it)
SETTINGS = {
    'with_pool1': ('stem max-pool', '--stem-pool / --no-stem-pool'),
    'head_pool': ('head pooling', '--head-pool'),
    'temporal_strides': ('temporal strides', '--temporal-strides'),
    'head_activation': ('head activation', '--head-activation'),
}


def _show(name, value):
    """A setting's value as the report and messages print it."""
    if name == 'with_pool1':
        return 'on' if value else 'off'
    if name == 'head_pool':
        return 'global average' if value is None else f'{tuple(value)} window'
    if name == 'head_activation':
        return value or 'none'
    return str(tuple(value))


def _normalize(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def resolve_config(name):
    """A plugin config by file name (under the installed ``configs``) or a
    path."""
    if osp.isfile(name):
        return name
    path = osp.join(configs_root(), name)
    if not osp.isfile(path):
        raise ConversionError(f'no config {name!r}: give a path or the name '
                              f'of a config in {configs_root()}')
    return path


def network_config(spec, base_config):
    """The base config with the network set to ``spec``.

    Returns:
        tuple: The config and ``[(key, base value, new value)]`` for every
        value that differs from the base config.
    """
    cfg = Config.fromfile(base_config)
    base = cfg.to_dict()
    differences = []
    for key, value in spec.overrides().items():
        old = _get(base, key, IMPLICIT.get(key))
        if _normalize(old) != _normalize(value):
            differences.append((key, old, value))
    head = dict(cfg.model.cls_head)
    head.pop('spatial_type', None)
    head.pop('pool_size', None)
    for key, value in spec.overrides().items():
        if key.startswith('model.cls_head.'):
            head[key[len('model.cls_head.'):]] = value
    cfg.model.cls_head = head
    cfg.merge_from_dict({
        key: value
        for key, value in spec.overrides().items()
        if not key.startswith('model.cls_head.')
    })
    return cfg, differences


def _render(value, indent=0):
    """Python source of a config value: ``dict(key=...)`` for dicts."""
    if not isinstance(value, dict):
        return repr(value)
    pad = ' ' * (indent + 4)
    items = ',\n'.join(f'{pad}{key}={_render(item, indent + 4)}'
                       for key, item in value.items())
    return f'dict(\n{items})'


def config_text(cfg, base_config, differences, dst):
    """A config that extends ``base_config`` with ``differences``: the
    converted network. A new head type replaces the head (``_delete_``)."""
    model = {}
    for key, _, new in differences:
        *parents, leaf = key.split('.')[1:]  # under `model`
        node = model
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = new
    if 'type' in model.get('cls_head', {}):
        model['cls_head'] = dict(_delete_=True, **cfg.model.cls_head)
    model.setdefault('backbone', {})['pretrained'] = None
    lines = [
        '# Written by `python -m csn_plugin.tools.convert`: the network of '
        'the converted',
        '# checkpoint, as the plugin config below with what differs.',
        f'_base_ = [{osp.abspath(base_config)!r}]',
        '',
        f'model = {_render(model)}',
    ]
    if dst:
        lines.append(f'load_from = {osp.abspath(dst)!r}')
    return '\n'.join(lines) + '\n'


def write_config(cfg, path, base_config, differences, dst):
    """Write :func:`config_text` to ``path``."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(config_text(cfg, base_config, differences, dst))


def _to_tensor(value):
    if isinstance(value, torch.Tensor):
        return value.detach()
    return torch.from_numpy(np.array(value))


def assemble(path, spec, pairs, tensors, target):
    """The plugin's state dict from the source ``tensors``.

    Args:
        path (str): The source file, for messages.
        spec (NetworkSpec): The network.
        pairs (list): ``(plugin key, source key or None)`` pairs.
        tensors (dict): Source key -> array or tensor.
        target (dict): The plugin model's state dict (shapes, dtypes).

    Returns:
        tuple: The state dict, the plugin keys set to 0 for want of a
        source key (``num_batches_tracked``), and notes on dtype casts.

    Raises:
        ConversionError: Source keys are missing or shapes do not fit.
    """
    missing = [(ours, src) for ours, src in pairs
               if src is not None and src not in tensors
               and not ours.endswith('num_batches_tracked')]
    if missing:
        listed = '; '.join(f'{src} (for {ours})'
                           for ours, src in missing[:5])
        more = f' and {len(missing) - 5} more' if len(missing) > 5 else ''
        raise ConversionError(f'{path}: lacks {len(missing)} key(s) of '
                              f'{spec.name}: {listed}{more}')
    state, filled, mismatched, cast = collections.OrderedDict(), [], [], []
    for ours, src in pairs:
        if src is None or src not in tensors:
            filled.append(ours)
            state[ours] = torch.zeros((), dtype=target[ours].dtype)
            continue
        value = _to_tensor(tensors[src])
        if tuple(value.shape) != tuple(target[ours].shape):
            mismatched.append(f'{src} {tuple(value.shape)} vs {ours} '
                              f'{tuple(target[ours].shape)}')
            continue
        if value.dtype != target[ours].dtype:
            cast.append(f'{src} ({value.dtype})')
        state[ours] = value.to(target[ours].dtype).contiguous()
    if mismatched:
        raise ConversionError(
            f'{path}: shapes do not fit {spec.name} with stem width '
            f'{spec.base_channels} ({len(mismatched)}): ' +
            '; '.join(mismatched[:5]))
    notes = [f'cast to the model\'s dtypes: {", ".join(cast)}'] if cast else []
    return state, filled, notes


def save_checkpoint(state, dst, fmt, path, spec):
    """Save ``state`` as an MMAction2 checkpoint with a ``meta`` record of
    where it came from (plain types only, so weights-only loading reads
    it)."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    meta = dict(
        converted_by='csn_plugin.tools.convert',
        csn_plugin_version=__version__,
        source_format=fmt.NAME,
        source=osp.abspath(path),
        network=spec.name,
        num_classes=spec.num_classes)
    torch.save(dict(state_dict=state, meta=meta), dst)


def resolve_settings(fmt, path, spec, given, create_csn_args=None):
    """The values the weights cannot tell (:data:`SETTINGS`): from the
    flags (``given``), the format's ``create_csn`` arguments, or the
    format's defaults where it can vouch for them.

    Returns:
        tuple: ``{field: value}`` and report lines ``(label, value,
        origin)``.

    Raises:
        ConversionError: A value is neither given nor vouched for (the
            message names the flags), or two sources disagree.
    """
    values, origins = {}, {}
    if create_csn_args is not None:
        explicit, defaults = fmt.settings_from_create_csn(
            path, spec, create_csn_args)
        for name, value in explicit.items():
            values[name], origins[name] = value, 'given: --create-csn-args'
        unsure = [name for name in getattr(fmt, 'VERSION_DEPENDENT', {})
                  if name in defaults and name not in given]
        if unsure:
            raise ConversionError(
                '--create-csn-args does not name ' + ', '.join(
                    fmt.VERSION_DEPENDENT[name] for name in unsure) +
                ", whose create_csn default differs between pytorchvideo "
                'versions, and the weights do not say: name it or pass ' +
                ', '.join(SETTINGS[name][1] for name in unsure))
        for name, value in defaults.items():
            values[name] = value
            origins[name] = f"assumed: create_csn's default ({fmt.SOURCE})"
    for name, value in given.items():
        # a flag overrides create_csn's defaults, not its named arguments
        if (origins.get(name, '').startswith('given')
                and values[name] != value):
            label, flag = SETTINGS[name]
            raise ConversionError(
                f'{label}: {flag} says {_show(name, value)}, '
                f'--create-csn-args {_show(name, values[name])} '
                f'({origins[name]}); give it once')
        values[name], origins[name] = value, 'given: ' + SETTINGS[name][1]
    vouched, reason = fmt.defaults(spec)
    missing = [name for name in SETTINGS
               if name not in values and name not in vouched]
    if missing:
        flags = ', '.join(SETTINGS[name][1] for name in missing)
        alternative = (' (or --create-csn-args with create_csn\'s arguments)'
                       if hasattr(fmt, 'settings_from_create_csn') else '')
        raise ConversionError(
            f'{path}: {reason}, so the weights do not say '
            f'{", ".join(SETTINGS[name][0] for name in missing)}: pass '
            f'{flags}{alternative}')
    for name in SETTINGS:
        if name not in values:
            values[name] = vouched[name]
            origins[name] = (f'assumed: {reason}; {SETTINGS[name][1]} '
                             'changes it')
    lines = [(SETTINGS[name][0], _show(name, values[name]), origins[name])
             for name in SETTINGS]
    return values, lines


def config_test_clip(cfg):
    """``(t, h, w)`` of a clip of the config's test pipeline (clip length
    of ``SampleFrames``, size of the crop), or None if it does not say."""
    pipeline = (cfg.get('test_dataloader', {}).get('dataset', {})
                .get('pipeline') or cfg.get('test_pipeline') or [])
    clip_len = crop = None
    for step in pipeline:
        if step.get('type') == 'SampleFrames':
            clip_len = step.get('clip_len')
        elif step.get('type') in ('CenterCrop', 'ThreeCrop', 'TenCrop'):
            crop = step.get('crop_size')
    if not clip_len or not crop:
        return None
    h, w = (crop, crop) if isinstance(crop, int) else tuple(crop)[::-1]
    return int(clip_len), int(h), int(w)


def check_head_window(spec, clip, origin, settings):
    """Raise ConversionError if the head's window does not fit the
    features of ``clip``; else a line for the report."""
    features = spec.feature_map(clip)
    clip_text = 'x'.join(map(str, clip))
    if spec.head_pool is None:
        return (f'a {clip_text} clip ({origin}) gives {features} '
                f'features, pooled globally')
    if all(f >= w for f, w in zip(features, spec.head_pool)):
        return (f'the head window {tuple(spec.head_pool)} fits the '
                f'{features} features of a {clip_text} clip ({origin})')
    used = '; '.join(f'{label} {value} ({where})'
                     for label, value, where in settings
                     if label in ('stem max-pool', 'head pooling',
                                  'temporal strides'))
    raise ConversionError(
        f'the feature map {features} of a {clip_text} clip ({origin}) is '
        f'smaller than the head pooling window {tuple(spec.head_pool)}, so '
        f'the converted model would fail at the head. Taken: {used}. Pass '
        f'the values the source network was built with (--temporal-strides,'
        f' --head-pool, --stem-pool / --no-stem-pool) or the clip it takes '
        f'(--clip-size T H W)')


def convert(fmt, path, dst=None, config=None, base_config=None,
            clip_size=None, create_csn_args=None, **given):
    """Convert the checkpoint ``path`` with the format module ``fmt``.

    Args:
        fmt (module): One of :mod:`.vmz_caffe2`, :mod:`.vmz`,
            :mod:`.pytorchvideo`: it has ``NAME``, ``LAYOUT``,
            ``BASE_CONFIGS``, ``NOTES``, ``defaults(spec)`` and
            ``read(path) -> (tensors, other_keys, spec)``.
        path (str): The source file.
        dst (str, optional): Where to write the checkpoint.
        config (str, optional): Where to write the network's config.
        base_config (str, optional): Plugin config (name or path) to
            compare with and extend; defaults to the format's choice.
        clip_size (tuple[int], optional): ``(t, h, w)`` of the clips the
            network takes, to check the head's window on; defaults to the
            base config's test clip.
        create_csn_args (dict, optional): PyTorchVideo only: the arguments
            the network was built with by ``create_csn`` (names and values
            as there, classes by name: ``"MaxPool3d"``, ``"softmax"``);
            those left out take ``create_csn``'s defaults.
        **given: What the weights cannot tell, where known (each left out
            is taken from ``create_csn_args`` or the format's defaults, if
            it has them for this network, else the conversion fails):
            ``with_pool1`` (bool, stem max-pool), ``head_pool`` (tuple:
            fixed window, None: global average), ``temporal_strides``
            (four ints), ``head_activation`` (``'softmax'``,
            ``'sigmoid'`` or None / ``'none'``).

    Returns:
        Conversion: What was converted, for :meth:`Conversion.report`.

    Raises:
        ConversionError: The file cannot be read, its layout is unknown,
            keys are missing, shapes do not fit, a value the weights cannot
            tell is missing, or the head's window does not fit the clip.
    """
    unknown = set(given) - set(SETTINGS)
    if unknown:
        raise TypeError(f'convert() got unknown settings {sorted(unknown)}')
    if given.get('head_activation') == 'none':
        given['head_activation'] = None
    if 'temporal_strides' in given:
        given['temporal_strides'] = tuple(given['temporal_strides'])
    if given.get('head_pool') is not None:
        given['head_pool'] = tuple(given['head_pool'])
    if create_csn_args is not None and not hasattr(
            fmt, 'settings_from_create_csn'):
        raise ConversionError(f'--create-csn-args is for the pytorchvideo '
                              f'format, not {fmt.NAME}')
    tensors, other, spec = fmt.read(path)
    values, settings = resolve_settings(fmt, path, spec, given,
                                        create_csn_args)
    for name, value in values.items():
        setattr(spec, name, value)
    spec.check(path)
    base_config = resolve_config(
        base_config or fmt.BASE_CONFIGS.get((spec.mode, spec.depth))
        or fmt.BASE_CONFIGS[spec.mode])
    cfg, differences = network_config(spec, base_config)
    if clip_size is not None:
        clip_check = check_head_window(spec, tuple(clip_size), '--clip-size',
                                       settings)
    elif config_test_clip(cfg) is not None:
        clip_check = check_head_window(
            spec, config_test_clip(cfg),
            f'the test clip of {osp.basename(base_config)}; --clip-size '
            'to change', settings)
    else:
        clip_check = None
    model = build_on_meta(cfg.model)
    target = model.state_dict()
    pairs = key_pairs(fmt.LAYOUT, spec)
    if [ours for ours, _ in pairs] != list(target):
        raise RuntimeError('csn_plugin.tools.convert: the key tables no '
                           f'longer match the plugin\'s {spec.name}')
    state, filled, notes = assemble(path, spec, pairs, tensors, target)
    model.load_state_dict(state, strict=True, assign=True)

    used = {src for _, src in pairs}
    unused = [key for key in tensors if key not in used] + list(other)
    notes = list(fmt.NOTES) + notes
    if spec.head_activation:
        notes.append(
            f'the head applies a {spec.head_activation} at each window '
            "position in eval mode (FixedPoolI3DHead's activation), so the "
            "config averages views with average_clips='score'; "
            "--average-clips prob would apply a softmax again")
    if spec.num_classes in KNOWN_CLASS_COUNTS:
        notes.append(f'{spec.num_classes} classes: '
                     f'{KNOWN_CLASS_COUNTS[spec.num_classes]}')
    result = Conversion(fmt.NAME, path, spec, pairs, unused, filled,
                        base_config, differences, notes, state, cfg,
                        settings, clip_check)
    if dst:
        save_checkpoint(state, dst, fmt, path, spec)
        result.dst = dst
    if config:
        write_config(cfg, config, base_config, differences, dst)
        result.config_path = config
    return result
