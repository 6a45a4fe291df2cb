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
}


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


def convert(fmt, path, dst=None, config=None, base_config=None,
            with_pool1=True, head_pool='default'):
    """Convert the checkpoint ``path`` with the format module ``fmt``.

    Args:
        fmt (module): One of :mod:`.vmz_caffe2`, :mod:`.vmz`,
            :mod:`.pytorchvideo`: it has ``NAME``, ``LAYOUT``,
            ``BASE_CONFIGS``, ``HEAD_POOL``, ``NOTES`` and
            ``read(path) -> (tensors, other_keys, spec)``.
        path (str): The source file.
        dst (str, optional): Where to write the checkpoint.
        config (str, optional): Where to write the network's config.
        base_config (str, optional): Plugin config (name or path) to
            compare with and extend; defaults to the format's choice.
        with_pool1 (bool): Whether the source network has the stem
            max-pool (weights do not tell).
        head_pool (tuple | None | str): The head's fixed pooling window,
            None for global average, ``'default'`` for the format's.

    Returns:
        Conversion: What was converted, for :meth:`Conversion.report`.

    Raises:
        ConversionError: The file cannot be read, its layout is unknown,
            keys are missing or shapes do not fit.
    """
    tensors, other, spec = fmt.read(path)
    spec.with_pool1 = with_pool1
    spec.head_pool = fmt.HEAD_POOL if head_pool == 'default' else head_pool
    spec.check(path)
    base_config = resolve_config(
        base_config or fmt.BASE_CONFIGS.get((spec.mode, spec.depth))
        or fmt.BASE_CONFIGS[spec.mode])
    cfg, differences = network_config(spec, base_config)
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
    notes = list(fmt.NOTES) + notes + [
        'the stem max-pool and the head pooling leave no weights; taken as: '
        f'{spec.describe(pooling_only=True)} (--no-stem-pool and '
        '--head-pool change them)'
    ]
    if spec.num_classes in KNOWN_CLASS_COUNTS:
        notes.append(f'{spec.num_classes} classes: '
                     f'{KNOWN_CLASS_COUNTS[spec.num_classes]}')
    result = Conversion(fmt.NAME, path, spec, pairs, unused, filled,
                        base_config, differences, notes, state, cfg)
    if dst:
        save_checkpoint(state, dst, fmt, path, spec)
        result.dst = dst
    if config:
        write_config(cfg, config, base_config, differences, dst)
        result.config_path = config
    return result
