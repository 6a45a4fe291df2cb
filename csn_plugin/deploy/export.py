"""Export a recognizer (or its backbone) to ONNX.

The graph takes mmdeploy's video layout, ``[batch, views, C, T, H, W]``
(views: clips x crops of one video), and returns each view's raw class
scores, ``[batch, views, num_classes]``; averaging the views
(``cls_head.average_clips``) stays outside, so that ``mim test --backend``
can choose it at test time. Batch, views, time, height and width are dynamic
axes. Global average pools (``AdaptiveAvgPool3d(1)``, the I3D head's and the
SE units') are exported as a mean over their axes, so the graph holds no
input size.

The TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``)
is used: the dynamo exporter needs ``onnxscript`` and ``torch.export``
shape specs, and gains nothing for these convolution-only networks. While
it traces, the plugin's backbones run their plain modules (no private
oneDNN ops) and the exporter folds each eval-mode BatchNorm into its conv.
"""
import os.path as osp
import warnings

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..models.state_dict_file import read_state_dict

__all__ = [
    'DEFAULT_OPSET', 'SUPPORTED_OPSETS', 'GlobalAvgPool', 'RecognizerGraph',
    'read_config', 'build_recognizer', 'load_checkpoint_strict',
    'clip_shape_of', 'export_onnx', 'max_relative_diff'
]

#: opsets this exporter writes and onnxruntime and OpenVINO read
SUPPORTED_OPSETS = range(11, 21)
DEFAULT_OPSET = 17
INPUT_NAME = 'clips'


class GlobalAvgPool(nn.Module):
    """Mean over every axis after the channels, keeping them as size 1:
    ``nn.AdaptiveAvgPool3d(1)`` for any input size, exported as one
    ``ReduceMean``."""

    def forward(self, x):
        return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


def _is_global_pool(module):
    if not isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                               nn.AdaptiveAvgPool3d)):
        return False
    size = module.output_size
    sizes = size if isinstance(size, (tuple, list)) else [size]
    return all(s == 1 for s in sizes)


def replace_global_pools(model):
    """Replace every adaptive average pool to size 1 in ``model`` by
    :class:`GlobalAvgPool`, in place; returns how many."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if _is_global_pool(child):
                setattr(parent, name, GlobalAvgPool())
                replaced += 1
    return replaced


class RecognizerGraph(nn.Module):
    """What is exported: a ``Recognizer3D``'s backbone (and neck and head)
    on ``[batch, views, C, T, H, W]``.

    Args:
        recognizer (nn.Module): A recognizer with ``backbone`` and, unless
            ``backbone_only``, ``cls_head``. Its global pools are replaced by
            :class:`GlobalAvgPool` in place.
        backbone_only (bool): Return the backbone's features,
            ``[batch, views, C', T', H', W']`` (one tensor a stage in
            ``out_indices``), instead of class scores. Defaults to False.
    """

    def __init__(self, recognizer, backbone_only=False):
        super().__init__()
        if not hasattr(recognizer, 'backbone'):
            raise TypeError(f'{type(recognizer).__name__} has no backbone; '
                            f'export takes a recognizer (model.type='
                            f"'Recognizer3D')")
        if not backbone_only and getattr(recognizer, 'cls_head', None) is None:
            raise KeyError('the config\'s model has no cls_head to give class '
                           'scores; export with --backbone-only for features')
        replace_global_pools(recognizer)
        self.backbone = recognizer.backbone
        self.neck = getattr(recognizer, 'neck', None)
        self.cls_head = None if backbone_only else recognizer.cls_head
        self.backbone_only = backbone_only

    def forward(self, clips):
        batch, views = clips.shape[:2]
        x = self.backbone(clips.flatten(0, 1))
        if self.neck is not None:
            x, _ = self.neck(x)
        if self.cls_head is not None:
            x = self.cls_head(x)
        # reshape, not unflatten: ONNX export of unflatten needs opset 13
        if isinstance(x, (tuple, list)):
            return tuple(t.reshape((batch, views) + t.shape[1:]) for t in x)
        return x.reshape((batch, views) + x.shape[1:])

    def output_names(self, num_outputs):
        if not self.backbone_only:
            return ['scores']
        if num_outputs == 1:
            return ['features']
        return [f'features{i}' for i in range(num_outputs)]


def read_config(config, cfg_options=None):
    """Read a config file, apply ``cfg_options`` and set MMAction2's default
    scope (importing this module registered the plugin's models)."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f'{config} defines no model')
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return cfg


def build_recognizer(cfg, checkpoint=None):
    """The config's model in eval mode, with ``checkpoint`` loaded strictly
    (:func:`load_checkpoint_strict`). ``init_weights()`` is not called, so
    no ``pretrained`` backbone is fetched."""
    from mmaction.registry import MODELS
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint_strict(model, checkpoint)
    return model.eval()


def _first(keys, n=8):
    more = f' ... and {len(keys) - n} more' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


def load_checkpoint_strict(model, filename):
    """Load ``filename`` into ``model``; every key must match by name and
    shape.

    Raises:
        ValueError: Naming the file and the missing, unexpected and
            mismatched keys (a checkpoint of another model or config).
    """
    if not (osp.isfile(filename) or '://' in filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    state_dict = read_state_dict(filename)
    own = model.state_dict()
    # in the model's (and the file's) order: the first layer first
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        f'{k} {tuple(state_dict[k].shape)} in the checkpoint vs '
        f'{tuple(v.shape)} in the model' for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing key(s): {_first(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): '
                        f'{_first(unexpected)}')
    if mismatched:
        problems.append(f'{len(mismatched)} shape mismatch(es): '
                        f'{_first(mismatched, 4)}')
    if problems:
        raise ValueError(f'checkpoint {filename} does not fit the config\'s '
                         f'model: ' + '; '.join(problems))
    model.load_state_dict(state_dict, strict=True)


def _size(value):
    return value if isinstance(value, int) else max(value)


def clip_shape_of(cfg):
    """``(T, H, W)`` of one view of the config's test pipeline: the frame
    sampler's ``clip_len`` and the last crop's (or fixed resize's) size.

    Raises:
        ValueError: When the pipeline does not tell (give ``--shape``).
    """
    # the loader's pipeline (what runs, --cfg-options included), else the
    # config's test_pipeline variable
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get(
        'pipeline') or cfg.get('test_pipeline', [])
    clip_len = size = None
    for step in pipeline:
        if 'clip_len' in step:
            clip_len = step['clip_len']
        if 'crop_size' in step:
            size = _size(step['crop_size'])
        elif step.get('type') == 'Resize' and not step.get('keep_ratio', 1):
            size = _size(step['scale'])
    if not clip_len or not size or size < 0:
        raise ValueError('cannot tell the clip shape from the config\'s '
                         'test_pipeline (clip_len and crop_size); give it '
                         'as --shape T H W')
    return clip_len, size, size


def check_opset(opset):
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(f'unsupported ONNX opset {opset}: choose '
                         f'{SUPPORTED_OPSETS.start} to '
                         f'{SUPPORTED_OPSETS.stop - 1}')


def export_onnx(graph, example, out_file, opset=DEFAULT_OPSET):
    """Trace ``graph`` (a :class:`RecognizerGraph`) on ``example`` and write
    ``out_file`` with batch, views, time, height and width dynamic."""
    check_opset(opset)
    graph.eval()
    with torch.no_grad():
        num_outputs = len(_as_tuple(graph(example)))
    output_names = graph.output_names(num_outputs)
    axes = {0: 'batch', 1: 'views', 3: 'time', 4: 'height', 5: 'width'}
    dynamic_axes = {INPUT_NAME: axes}
    for name in output_names:
        dynamic_axes[name] = (
            {0: 'batch', 1: 'views'} if name == 'scores' else
            {0: 'batch', 1: 'views', 3: 'feature_time', 4: 'feature_height',
             5: 'feature_width'})
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation on every call.
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', message='.*legacy TorchScript')
        torch.onnx.export(
            graph, (example, ),
            out_file,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True)
    return output_names


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x, )


def max_relative_diff(got, expected):
    """``max|got - expected| / max|expected|`` over all outputs, the
    benchmark's measure."""
    worst = 0.0
    for g, e in zip(_as_tuple(got), _as_tuple(expected)):
        g, e = np.asarray(g, dtype=np.float64), np.asarray(e, np.float64)
        if g.shape != e.shape:
            raise ValueError(f'output shape {g.shape} differs from '
                             f'PyTorch\'s {e.shape}')
        worst = max(worst,
                    float(np.abs(g - e).max() / max(np.abs(e).max(), 1e-12)))
    return worst
