"""Parameters and multiply-adds of a model, per stage and in total.

Usage::

    python -m csn_plugin.tools.complexity ircsn_r152 --shape 1 3 32 256 256
    python -m csn_plugin.tools.complexity path/to/config.py
    python -m csn_plugin.tools.complexity --table --shape 1 3 32 224 224 \\
        --shape 1 3 32 256 256

A target is a config file, an arch name, the name of a model config in
``configs/_base_/models`` (``ircsn_r152``, ``ipcsn_r50``, ``r3d_r18``,
``sevnet`` ...), or a registered model type built with its defaults
(``SEVNet``). A config's ``model`` may be a recognizer (counted through
backbone, neck and head) or a bare backbone.

What is counted, the convention of the CSN paper's "GFLOPs" (Tran et al.,
ICCV 2019), which are multiply-adds:

- MACs: one per multiply-add of every ``Conv1d/2d/3d`` and ``Linear`` layer,
  ``output elements x input channels per group x kernel volume`` (times
  ``in_features`` for linear layers). Biases, norms, activations, pooling
  and residual sums are not counted.
- params: every learnable parameter (convs, norm affines, classifier).

Nothing is computed: the model is built on the ``meta`` device and forward
hooks read the layers' output shapes, so ir-CSN-152 at 32x256x256 takes well
under a second.
"""
import argparse
import fnmatch
import math
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

import csn_plugin  # noqa: F401  (registers the plugin's models)
from csn_plugin.registry import MODELS

__all__ = [
    'Complexity', 'configs_root', 'known_archs', 'load_model_cfg',
    'build_on_meta', 'count_complexity', 'complexity_of', 'format_report',
    'format_table', 'main'
]

COUNTED_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
CONVENTION = ('MACs: multiply-adds of conv and linear layers (norms, '
              'activations, pooling, biases and residual sums not counted); '
              'params: all learnable parameters.')


@dataclass
class Complexity:
    """Counts of one model at one input shape.

    Attributes:
        shape (tuple[int]): Input shape ``(N, C, T, H, W)``.
        stages (OrderedDict): Stage name -> ``(params, macs)``, in model
            order. Stages are the backbone's direct children (and the neck
            and head of a recognizer); those with neither are left out.
        conv_macs (int): MACs of the conv layers.
        linear_macs (int): MACs of the linear layers.
    """

    shape: tuple
    stages: OrderedDict = field(default_factory=OrderedDict)
    conv_macs: int = 0
    linear_macs: int = 0

    @property
    def params(self):
        return sum(p for p, _ in self.stages.values())

    @property
    def macs(self):
        return self.conv_macs + self.linear_macs


def configs_root():
    """The ``configs`` folder: the installed package's ``.mim/configs``, or
    the source tree's beside ``csn_plugin``."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for root in (osp.join(package, '.mim', 'configs'),
                 osp.join(osp.dirname(package), 'configs')):
        if osp.isdir(osp.join(root, '_base_', 'models')):
            return root
    raise FileNotFoundError(
        f'no configs/_base_/models found in {package}/.mim or beside it; '
        'install csn_plugin with a regular (non-editable) pip install')


#: Order of the arch names: the dense baseline, the CSN design space, SEVNet;
#: within a family, simple depths before bottleneck ones, small before large.
FAMILY_ORDER = ('r3d', 'gccsn', 'ipcsn', 'ircsn', 'sevnet')
SUFFIX_ORDER = ('_r18', '_r34', '_r26', '_r50', '_r101', '_r152', '_s', '',
                '_l')


def _rank(value, order):
    return order.index(value) if value in order else len(order)


def known_archs():
    """Arch names: the model configs in ``configs/_base_/models``, in the
    order of :data:`FAMILY_ORDER` and :data:`SUFFIX_ORDER` (others last)."""
    models_dir = osp.join(configs_root(), '_base_', 'models')
    names = [f[:-3] for f in os.listdir(models_dir) if f.endswith('.py')]

    def key(name):
        family = name.split('_')[0]
        suffix = name[len(family):]
        return (_rank(family, FAMILY_ORDER), family,
                _rank(suffix, SUFFIX_ORDER), name)

    return sorted(names, key=key)


def load_model_cfg(target):
    """The ``model`` config of a config file, an arch name or a registered
    model type (built with its default arguments, e.g. ``SEVNet``)."""
    if osp.isfile(target):
        path = target
    else:
        path = osp.join(configs_root(), '_base_', 'models', f'{target}.py')
        if not osp.isfile(path):
            with DefaultScope.overwrite_default_scope('mmaction'):
                if MODELS.get(target) is not None:
                    return Config(dict(model=dict(type=target))).model
            raise ValueError(
                f'{target!r} is neither a config file, a known arch nor a '
                f'registered model; arch names: {", ".join(known_archs())}')
    cfg = Config.fromfile(path)
    if 'model' not in cfg:
        raise ValueError(f'{path} defines no `model`')
    return cfg.model


def build_on_meta(model_cfg):
    """Build a model on the ``meta`` device (no memory, no init), in eval
    mode."""
    # Recognizers build their parts (data preprocessor, head) by name in
    # MMAction2's scope.
    with DefaultScope.overwrite_default_scope('mmaction'), \
            torch.device('meta'):
        model = MODELS.build(model_cfg)
    return model.eval()


def _stage_of(name, is_recognizer):
    parts = name.split('.')
    depth = 2 if is_recognizer and parts[0] == 'backbone' else 1
    return '.'.join(parts[:depth])


def count_complexity(model, shape):
    """Count params and MACs of ``model`` for an input of ``shape``.

    Args:
        model (nn.Module): A recognizer (``backbone``, optional ``neck`` and
            ``cls_head``) or a backbone. It is run on ``meta`` tensors; build
            it with :func:`build_on_meta` (or move it to ``meta``) first.
        shape (tuple[int]): ``(N, C, T, H, W)``.

    Returns:
        Complexity: Per-stage and total counts.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 5:
        raise ValueError(f'shape must be (N, C, T, H, W), got {shape}')
    is_recognizer = hasattr(model, 'backbone')
    result = Complexity(shape)
    stage_macs = OrderedDict()
    stage_params = OrderedDict()
    for name, module in model.named_modules():
        if name and name != 'backbone':
            stage = _stage_of(name, is_recognizer)
            stage_macs.setdefault(stage, 0)
            stage_params.setdefault(stage, 0)
    for name, param in model.named_parameters():
        stage = _stage_of(name, is_recognizer)
        stage_params[stage] = stage_params.get(stage, 0) + param.numel()

    def hook(name):

        def count(module, inputs, output):
            if isinstance(module, nn.Linear):
                macs = output.numel() * module.in_features
                result.linear_macs += macs
            else:
                macs = (output.numel() *
                        (module.in_channels // module.groups) *
                        math.prod(module.kernel_size))
                result.conv_macs += macs
            stage_macs[_stage_of(name, is_recognizer)] += macs

        return count

    handles = [
        module.register_forward_hook(hook(name))
        for name, module in model.named_modules()
        if isinstance(module, COUNTED_LAYERS)
    ]
    try:
        x = torch.empty(shape, device='meta')
        with torch.no_grad():
            if is_recognizer:
                # (N, C, T, H, W) -> (N, num_clips=1, C, T, H, W)
                feats, _ = model.extract_feat(x[:, None], stage='neck')
                if getattr(model, 'with_cls_head', False):
                    model.cls_head(feats)
            else:
                model(x)
    finally:
        for handle in handles:
            handle.remove()
    for stage, params in stage_params.items():
        if params or stage_macs.get(stage):
            result.stages[stage] = (params, stage_macs.get(stage, 0))
    return result


def complexity_of(target, shape):
    """Build ``target`` (config path or arch name) on ``meta`` and count."""
    return count_complexity(build_on_meta(load_model_cfg(target)), shape)


def _shape_str(shape):
    return 'x'.join(str(s) for s in shape)


def format_report(target, result):
    """The per-stage text report of :func:`count_complexity`."""
    width = max([len(s) for s in result.stages] + [len('total')])
    lines = [
        f'{target}: input {_shape_str(result.shape)}',
        f'{"stage":<{width}}  {"params (M)":>10}  {"GMACs":>9}',
    ]
    for stage, (params, macs) in result.stages.items():
        lines.append(f'{stage:<{width}}  {params / 1e6:>10.2f}  '
                     f'{macs / 1e9:>9.2f}')
    lines.append(f'{"total":<{width}}  {result.params / 1e6:>10.2f}  '
                 f'{result.macs / 1e9:>9.2f}')
    lines.append(f'(conv {result.conv_macs / 1e9:.3f} GMACs + linear '
                 f'{result.linear_macs / 1e9:.4f} GMACs)')
    lines.append(CONVENTION)
    return '\n'.join(lines)


def format_table(archs, shapes):
    """A markdown table: params and GMACs of each arch at each shape."""
    header = ['model', 'backbone', 'params (M)'] + [
        f'GMACs {_shape_str(s[2:])}' for s in shapes
    ]
    lines = [
        '| ' + ' | '.join(header) + ' |',
        '|' + '|'.join(['---'] * 2 + ['---:'] * (len(header) - 2)) + '|'
    ]
    for arch in archs:
        model_cfg = load_model_cfg(arch)
        model = build_on_meta(model_cfg)
        results = [count_complexity(model, shape) for shape in shapes]
        backbone = model_cfg.get('backbone', model_cfg)
        cells = [arch, _describe(backbone), f'{results[0].params / 1e6:.2f}']
        cells += [f'{r.macs / 1e9:.2f}' for r in results]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _describe(backbone):
    """A short description of a backbone config for the table."""
    kind = backbone['type']
    if 'depth' in backbone:
        conv = backbone.get('conv_type', backbone.get('bottleneck_mode'))
        extra = f', {backbone["groups"]} groups' if conv == 'gc' else ''
        return f'{kind}, depth {backbone["depth"]}, {conv}{extra}'
    if 'arch' in backbone:
        return f'{kind}, arch {backbone["arch"]}'
    return kind


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Params and multiply-adds (GMACs) of a model, per stage '
        'and in total. ' + CONVENTION)
    parser.add_argument(
        'target',
        nargs='?',
        help='config file, arch name (a config in configs/_base_/models) or '
        'registered model type; with --table, a pattern of arch names '
        '(default: all)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=5,
        action='append',
        metavar=('N', 'C', 'T', 'H', 'W'),
        help='input shape; repeat it for more columns in --table '
        '(default: 1 3 32 224 224)')
    parser.add_argument(
        '--table',
        action='store_true',
        help='print a markdown table of all arch names (or those matching '
        'target) instead of one per-stage report')
    args = parser.parse_args(argv)
    if not args.table and args.target is None:
        parser.error('give a config file or an arch name, or --table')
    if not args.table and args.shape and len(args.shape) > 1:
        parser.error('give one --shape, or use --table')
    args.shape = args.shape or [[1, 3, 32, 224, 224]]
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.table:
        archs = [
            a for a in known_archs()
            if fnmatch.fnmatchcase(a, args.target or '*')
        ]
        if not archs:
            raise SystemExit(f'no arch name matches {args.target!r}; arch '
                             f'names: {", ".join(known_archs())}')
        print(format_table(archs, args.shape))
        print(f'\n{CONVENTION}')
    else:
        try:
            result = complexity_of(args.target, args.shape[0])
        except (ValueError, KeyError, TypeError) as err:
            # an unknown target, or a model that cannot be built from it
            raise SystemExit(f'error: {args.target}: {err}')
        print(format_report(args.target, result))


if __name__ == '__main__':
    main()
