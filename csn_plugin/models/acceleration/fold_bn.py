"""Fold a BatchNorm into the convolution before it, for inference.

In eval mode ``BN(conv(x, W))`` is ``conv(x, W * s) + (beta - mean * s)``
with ``s = gamma / sqrt(var + eps)`` per output channel, so the BN pass over
the feature map can go. Only exact for BN with frozen running statistics:
at test time, where :mod:`.deploy` folds every unit of a backbone once, in
place; and in training with frozen BN (``norm_eval``, as CSN fine-tuning
does), where :func:`fold_frozen_bn_per_call` turns on mmcv's
``ConvModule`` option ``efficient_conv_bn_eval``: the unit folds its BN into
the conv weight on every call, differentiably (gradients reach the conv
and BN's affine parameters), and the BN pass over the feature map goes.
"""
import torch
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['check_foldable', 'fold_frozen_bn_per_call', 'folded_params']


def check_foldable(module):
    """Raise unless ``module`` is a ``ConvModule`` whose norm layer, if it
    has one, is a BatchNorm with running statistics right after the conv."""
    if not isinstance(module, ConvModule):
        raise TypeError(f'only a ConvModule can be folded, got '
                        f'{type(module).__name__}')
    if not module.with_norm:
        return
    norm = module.norm
    if not (isinstance(norm, _BatchNorm) and norm.track_running_stats):
        raise TypeError(
            f'only a BatchNorm with running statistics can be folded into a '
            f'conv, got {type(norm).__name__}')
    if module.order.index('norm') != module.order.index('conv') + 1:
        raise ValueError(f'cannot fold a norm that does not follow the conv '
                         f'directly: order={module.order}')


def folded_params(conv, norm):
    """The weight and bias of ``conv`` with the eval-mode ``norm`` after it
    folded in (differentiable: gradients reach both modules)."""
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.affine:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.affine:
        shift = shift + norm.bias
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    return weight, shift.to(weight.dtype)


def fold_frozen_bn_per_call(model):
    """Set mmcv's ``efficient_conv_bn_eval`` on every ``ConvModule`` of
    ``model``: on where ``model`` trains and the unit's BatchNorm is in eval
    mode (frozen statistics), off everywhere else, so that evaluation runs
    (and hooks see) the BatchNorm modules as they are. ``print(model)``
    does not show the option; ``unit.efficient_conv_bn_eval_forward`` is
    set where it is on. Call it at the end of ``train()``.

    Returns:
        int: How many units fold their BatchNorm per call.
    """
    count = 0
    for m in model.modules():
        if isinstance(m, ConvModule):
            on = (model.training and m.with_norm
                  and isinstance(m.norm, _BatchNorm) and not m.norm.training)
            m.turn_on_efficient_conv_bn_eval(on)
            count += m.efficient_conv_bn_eval_forward is not None
    return count
