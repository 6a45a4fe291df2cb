"""Conv + bias + ReLU (+ residual add) as one kernel on CPU.

oneDNN runs a convolution with post-ops in one primitive: the bias, a ReLU
and the add of a residual happen while the conv's output is still in cache,
so the separate passes over the feature map, and their fresh allocations,
go. PyTorch exposes these primitives only as private ops
(``torch.ops.mkldnn._convolution_pointwise``, the ones ``torch.compile``'s
CPU backend emits). :func:`conv_act` takes them only where :func:`use_onednn`
allows: the build has them, a check against public PyTorch passed once on
this machine, the ``fused`` path is not disabled (:mod:`.support`), nothing
traces the call, no gradient is needed (the ops have no autograd), and the
input is a CPU tensor in fp32, or in bf16 on a CPU with native bf16.
Everywhere else it computes the same with public ops.
"""
import functools

import torch
import torch.nn.functional as F

from .support import enabled, log_once, native_bf16, tracing

__all__ = ['conv_act', 'onednn_works', 'use_onednn']


def conv_act(x, weight, bias, conv, relu, residual=None, inplace=False):
    """``conv(x, weight) + bias [+ residual]``, then ReLU if ``relu``.

    Args:
        x (Tensor): Input ``(N, C, T, H, W)``.
        weight (Tensor): The conv's weight (BN folded in), cast to ``x``'s
            dtype if it differs.
        bias (Tensor | None): The conv's bias, likewise.
        conv (nn.Conv3d): Gives stride, padding, dilation and groups; off
            the oneDNN path its ``_conv_forward`` computes the conv.
        relu (bool): Apply ReLU last.
        residual (Tensor, optional): Added before the ReLU.
        inplace (bool): Write the result into ``residual``, which the caller
            owns and no longer needs (never with gradients).
    """
    weight = weight.to(x.dtype)
    bias = None if bias is None else bias.to(x.dtype)
    if use_onednn(x, weight):
        args = (weight, bias, list(conv.padding), list(conv.stride),
                list(conv.dilation), conv.groups)
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(
                x, *args, 'relu' if relu else 'none', [], '')
        act = 'relu' if relu else None
        if inplace:
            return torch.ops.mkldnn._convolution_pointwise_.binary(
                residual, x, *args, 'add', 1.0, act, [], None)
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual, *args, 'add', 1.0, act, [], None)
    # the conv's own _conv_forward: MixedPrecisionConv3d keeps its fp32
    # rules under bf16 training
    out = conv._conv_forward(x, weight, bias)
    if residual is not None:
        out = residual.add_(out) if inplace else out + residual
    return F.relu(out, inplace=True) if relu else out


def use_onednn(x, weight):
    """Whether :func:`conv_act` may take oneDNN's private fused op here."""
    if tracing() or not (x.device.type == 'cpu' and enabled('fused')):
        return False
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return False
    if x.dtype == torch.bfloat16 and not native_bf16():
        return False
    if x.dtype not in (torch.float32, torch.bfloat16):
        return False
    works = onednn_works()
    log_once(('fused', works),
             "csn_plugin: conv + BN + ReLU (+ residual) run as oneDNN's "
             'fused kernels' if works else
             "csn_plugin: oneDNN's fused conv kernels are not available in "
             'this PyTorch build (or disagree with PyTorch here); the plain '
             'ops run instead')
    return works


@functools.lru_cache()
def onednn_works():
    """Whether this build has the fused ops and they compute what public
    PyTorch computes, checked once on small inputs on the CPU."""
    if not (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_convolution_pointwise')):
        return False
    with torch.device('cpu'):  # whatever default device the caller set
        try:
            return _matches_public_ops()
        except RuntimeError:
            return False


def _matches_public_ops():
    """Unary and binary (in place and not) fused ops on a depthwise and a
    dense conv, against ``F.conv3d`` + add + ReLU."""
    gen = torch.Generator().manual_seed(0)
    for groups in (8, 1):
        x = torch.randn(1, 8, 3, 5, 5, generator=gen).contiguous(
            memory_format=torch.channels_last_3d)
        weight = torch.randn(8, 8 // groups, 3, 3, 3, generator=gen)
        bias = torch.randn(8, generator=gen)
        residual = torch.randn(1, 8, 3, 5, 5, generator=gen)
        plain = F.conv3d(x, weight, bias, 1, 1, 1, groups)
        args = (weight, bias, [1, 1, 1], [1, 1, 1], [1, 1, 1], groups)
        with torch.no_grad():
            fused = [
                (torch.ops.mkldnn._convolution_pointwise(
                    x, *args, 'relu', [], ''), plain.relu()),
                (torch.ops.mkldnn._convolution_pointwise.binary(
                    x, residual, *args, 'add', 1.0, 'relu', [], None),
                 (plain + residual).relu()),
                (torch.ops.mkldnn._convolution_pointwise_.binary(
                    residual.clone(), x, *args, 'add', 1.0, None, [], None),
                 plain + residual),
            ]
        if not all(torch.allclose(got, want, rtol=1e-4, atol=1e-4)
                   for got, want in fused):
            return False
    return True
