"""Fold a BatchNorm into the convolution before it, for inference.

In eval mode ``BN(conv(x, W))`` is ``conv(x, W * s) + (beta - mean * s)``
with ``s = gamma / sqrt(var + eps)`` per output channel, so the BN pass over
the feature map can go. Only exact for BN with frozen running statistics,
i.e. at test time; :meth:`FactorizedResNet3d.switch_to_deploy` folds the whole
backbone with it.
"""
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['fold_conv_bn']


@torch.no_grad()
def fold_conv_bn(module):
    """Fold the norm layer of a ``ConvModule`` into its conv, in place.

    Afterwards the module has no norm layer (``module.norm is None``) and its
    conv has a bias; it computes what it computed in eval mode, up to float
    rounding.

    Args:
        module (ConvModule): A conv, then a ``_BatchNorm`` that tracks running
            statistics (BN, SyncBN), in this order.

    Returns:
        bool: True if a norm layer was folded, False if there was none.
    """
    if not isinstance(module, ConvModule):
        raise TypeError(f'fold_conv_bn folds a ConvModule, got '
                        f'{type(module).__name__}')
    if not module.with_norm:
        return False
    norm, conv = module.norm, module.conv
    if not (isinstance(norm, _BatchNorm) and norm.track_running_stats):
        raise TypeError(
            f'only a BatchNorm with running statistics can be folded into a '
            f'conv, got {type(norm).__name__}')
    order = module.order
    if order.index('norm') != order.index('conv') + 1:
        raise ValueError(f'cannot fold a norm that does not follow the conv '
                         f'directly: order={order}')
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.affine:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.affine:
        shift = shift + norm.bias
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    conv.weight = nn.Parameter(weight, conv.weight.requires_grad)
    conv.bias = nn.Parameter(shift.to(weight.dtype), conv.weight.requires_grad)
    delattr(module, module.norm_name)
    module.norm_name = None
    module.with_norm = False
    module.turn_on_efficient_conv_bn_eval(False)  # nothing left to fold
    return True
