"""Fused inference of a 3D ResNet with eval-mode BN on CPU, with oneDNN.

With its eval-mode BN folded in (:func:`~.fold_bn.folded_params`; in place
after ``switch_to_deploy``, else on the fly) each conv unit is a conv with
bias and, maybe, a ReLU; a residual block ends with
``relu(conv(x) + identity)``. oneDNN runs both as one primitive with post-ops
(``torch.ops.mkldnn._convolution_pointwise``, the kernels that
``torch.compile`` emits for CPU convolutions), and the last conv of a block
writes its sum into the identity tensor instead of a new one. That saves the
BN, ReLU and add passes over the feature maps and, on CPU, most of the fresh
allocations (page faults) of the large early-stage maps.

These ops have no autograd and are private to PyTorch, so the fused path is
taken only without gradients, on CPU, with every BN in eval mode, in float32
(or bfloat16 under CPU autocast), and only after :func:`fusion_works` checked
the ops against the eager computation on this PyTorch build. Otherwise the
modules run.
"""
import functools

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from .fold_bn import check_foldable, folded_params

__all__ = ['fusion_works', 'can_fuse', 'run_fused']


def _params(unit, dtype):
    """The unit's weight and bias, BN folded in, in ``dtype``.

    A unit with BN folds it now (its parameters may change between calls);
    a folded one keeps its copies in another dtype once made (a deployed
    backbone's weights no longer change)."""
    conv = unit.conv
    if unit.with_norm:
        weight, bias = folded_params(conv, unit.norm)
        return weight.to(dtype), bias.to(dtype)
    if conv.weight.dtype == dtype:
        return conv.weight, conv.bias
    cache = conv.__dict__.setdefault('_fused_params', {})
    if dtype not in cache:
        cache[dtype] = (conv.weight.detach().to(dtype),
                        conv.bias.detach().to(dtype))
    return cache[dtype]


def _conv(unit, x, residual=None):
    """``act(conv(x) + b)``, or ``relu(conv(x) + b + residual)`` written into
    ``residual``, for a folded ``ConvModule``."""
    conv = unit.conv
    args = (*_params(unit, x.dtype), list(conv.padding), list(conv.stride),
            list(conv.dilation), conv.groups)
    if residual is not None:
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            residual, x, *args, 'add', 1.0, 'relu', [], None)
    return torch.ops.mkldnn._convolution_pointwise(
        x, *args, 'relu' if unit.with_activation else 'none', [], '')


def _units(block):
    """The conv units of a residual block's body, in order."""
    units = []
    for name, child in block.named_children():
        if name in ('downsample', 'relu'):
            continue
        units += child if isinstance(child, nn.Sequential) else [child]
    return units


def _is_relu(module):
    return type(module) is nn.ReLU


def _fusable_unit(unit, act):
    """A conv unit with BN (or folded, with a bias), then ReLU if ``act``."""
    try:
        check_foldable(unit)
    except (TypeError, ValueError):
        return False
    conv = unit.conv
    return (isinstance(conv, nn.Conv3d) and conv.padding_mode == 'zeros'
            and (unit.with_norm or conv.bias is not None)
            and unit.order == ('conv', 'norm', 'act')
            and unit.with_activation == act
            and (not act or _is_relu(unit.activate)))


def can_fuse(backbone):
    """Whether every part of a backbone has a fused form: conv units with
    eval-mode BN (or folded, with a bias) and ReLU or no activation, blocks
    ending in ``relu(conv + identity)``."""
    if not _fusable_unit(backbone.conv1, act=True):
        return False
    for name in backbone.res_layers:
        for block in getattr(backbone, name):
            units = _units(block)
            if not (units and _is_relu(block.relu)
                    and all(_fusable_unit(u, u.with_activation)
                            for u in units[:-1])
                    and _fusable_unit(units[-1], act=False)):
                return False
            if (block.downsample is not None
                    and not _fusable_unit(block.downsample, act=False)):
                return False
    return True


def run_fused(stage, x):
    """Run the stem conv unit or a stage (``nn.Sequential`` of blocks).

    A stage never writes into its input, which the caller may still hold;
    later blocks write into the outputs of the blocks before them.
    """
    if isinstance(stage, ConvModule):
        return _conv(stage, x)
    for i, block in enumerate(stage):
        units = _units(block)
        if block.downsample is not None:
            identity = _conv(block.downsample, x)
        else:
            identity = x if i > 0 else x.clone()
        out = x
        for unit in units[:-1]:
            out = _conv(unit, out)
        x = _conv(units[-1], out, residual=identity)
    return x


@functools.lru_cache()
def fusion_works():
    """Check the fused ops once against eager PyTorch on a small block."""
    if not (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_convolution_pointwise')):
        return False
    with torch.device('cpu'):  # whatever default device the caller set
        return _fusion_matches_eager()


def _fusion_matches_eager():
    """The fused depthwise conv + bias + residual + ReLU on a small input
    against eager PyTorch."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 8, 3, 5, 5, generator=gen).contiguous(
        memory_format=torch.channels_last_3d)
    identity = torch.randn(1, 8, 3, 5, 5, generator=gen)
    weight = torch.randn(8, 1, 3, 3, 3, generator=gen)
    bias = torch.randn(8, generator=gen)
    expected = torch.relu(
        nn.functional.conv3d(x, weight, bias, 1, 1, 1, 8) + identity)
    try:
        unit = ConvModule(8, 8, 3, padding=1, groups=8,
                          conv_cfg=dict(type='Conv3d'), act_cfg=None)
        unit.conv.weight.data, unit.conv.bias.data = weight, bias
        with torch.no_grad():
            got = _conv(unit, x, residual=identity.clone())
    except RuntimeError:
        return False
    return torch.allclose(got, expected, rtol=1e-4, atol=1e-4)
