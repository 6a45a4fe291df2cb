"""The one place where the plugin calls private PyTorch ops: oneDNN's fused
conv + bias + ReLU (+ residual add) on the CPU.

oneDNN runs a convolution with post-ops in one primitive: the bias, a ReLU
and the add of a residual happen while the conv's output is still in cache,
so the separate passes over the feature map, and their fresh allocations,
go. PyTorch exposes these primitives only as private ops
(``torch.ops.mkldnn._convolution_pointwise``, the ones ``torch.compile``'s
CPU backend emits), in three forms (:data:`OPS`): ``'unary'`` (conv, bias,
ReLU or nothing), ``'binary'`` (conv, bias, + residual, ReLU) and
``'binary_'`` (the same, written into the residual).

Private ops carry no promise, so each is used only after it computed what
the public ops compute: :func:`private_op_works` checks each (op, dtype,
memory format) once per process on small inputs against ``F.conv3d`` + add
+ ReLU. Whatever fails, the public ops run instead. If a private op that
passed its check still raises a ``RuntimeError`` at run time (oneDNN has
combinations it refuses, such as a bf16 add + ReLU on contiguous tensors on
some CPUs), :func:`conv_act` logs one warning naming the op, dtype and
format, never uses that combination again in this process, and returns the
public ops' result: the user's run goes on.

:func:`conv_act` takes a private op only where nothing could tell the
difference: the ``fused`` path is not disabled (:mod:`.support`), nothing
traces the call, no gradient is needed (the ops have no autograd), and the
input is a CPU tensor in fp32, or in bf16 on a CPU with native bf16
(:func:`~.support.native_bf16`).
"""
import torch
import torch.nn.functional as F

from .support import enabled, log_once, native_bf16, tracing

__all__ = ['OPS', 'conv_act', 'private_op_works', 'private_ops_status']

#: the private ops this module may call
OPS = ('unary', 'binary', 'binary_')
#: dtype -> (rtol, atol) of the check against the public ops
_TOLERANCE = {torch.float32: (1e-4, 1e-4), torch.bfloat16: (5e-2, 1e-1)}

#: (op, dtype, memory format) -> whether the private op may run
_status = {}


def _format_of(x):
    return ('channels_last_3d'
            if x.is_contiguous(memory_format=torch.channels_last_3d)
            and not x.is_contiguous() else 'contiguous')


def _private(op, x, weight, bias, conv, relu, residual):
    """The private op ``op`` on these tensors."""
    args = (weight, bias, list(conv.padding), list(conv.stride),
            list(conv.dilation), conv.groups)
    if op == 'unary':
        return torch.ops.mkldnn._convolution_pointwise(
            x, *args, 'relu' if relu else 'none', [], '')
    act = 'relu' if relu else None
    if op == 'binary_':
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            residual, x, *args, 'add', 1.0, act, [], None)
    return torch.ops.mkldnn._convolution_pointwise.binary(
        x, residual, *args, 'add', 1.0, act, [], None)


def _public(x, weight, bias, conv, relu, residual, inplace):
    # the conv's own _conv_forward: a MixedPrecisionConv3d keeps its rules
    out = conv._conv_forward(x, weight, bias)
    if residual is not None:
        out = residual.add_(out) if inplace else out + residual
    return F.relu(out, inplace=True) if relu else out


class _Geometry:
    """What :func:`_private` reads from a conv module."""

    def __init__(self, groups):
        self.padding = self.stride = self.dilation = (1, 1, 1)
        self.groups = groups

    def _conv_forward(self, x, weight, bias):
        return F.conv3d(x, weight, bias, self.stride, self.padding,
                        self.dilation, self.groups)


def _check(op, dtype, memory_format):
    """Whether ``op`` matches the public ops in ``dtype`` and
    ``memory_format``, on a depthwise and a dense conv."""
    if not (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_convolution_pointwise')):
        return False
    rtol, atol = _TOLERANCE[dtype]
    fmt = (torch.channels_last_3d if memory_format == 'channels_last_3d'
           else torch.contiguous_format)
    gen = torch.Generator().manual_seed(0)  # leaves the global RNG alone
    # whatever the caller's default device and autocast
    with torch.device('cpu'), torch.no_grad(), torch.autocast(
            'cpu', enabled=False):
        for groups in (8, 1):
            conv = _Geometry(groups)
            x, residual = (torch.randn(1, 8, 3, 5, 5, generator=gen).to(
                dtype).contiguous(memory_format=fmt) for _ in range(2))
            weight = torch.randn(8, 8 // groups, 3, 3, 3, generator=gen).to(
                dtype).contiguous(memory_format=fmt)
            bias = torch.randn(8, generator=gen).to(dtype)
            with_res = None if op == 'unary' else residual
            want = _public(*(t.float() for t in (x, weight, bias)), conv,
                           True, None if with_res is None else
                           with_res.float(), False)
            try:
                got = _private(op, x, weight, bias, conv, True,
                               None if with_res is None else with_res.clone())
            except RuntimeError:
                return False
            if not torch.allclose(got.float(), want, rtol=rtol, atol=atol):
                return False
    return True


def private_op_works(op, dtype, memory_format):
    """Whether the private op ``op`` (one of :data:`OPS`) computes what the
    public ops compute for ``dtype`` tensors in ``memory_format``
    (``'channels_last_3d'`` or ``'contiguous'``); checked once per process
    and remembered, as is a failure at run time."""
    key = (op, dtype, memory_format)
    if key not in _status:
        _status[key] = _check(op, dtype, memory_format)
        log_once(('kernel-check', key),
                 f"csn_plugin: oneDNN's fused conv op ({op}, "
                 f"{str(dtype)[6:]}, {memory_format}) "
                 + ('passed its check; it runs' if _status[key] else
                    'is missing or differs from the public ops here; the '
                    'public ops run instead'))
    return _status[key]


def private_ops_status():
    """What has been decided so far: {(op, dtype, format): usable}."""
    return dict(_status)


def _may_use_private(x, weight):
    if tracing() or not (x.device.type == 'cpu' and enabled('fused')):
        return False
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
        return False
    if x.dtype == torch.bfloat16:
        return native_bf16()
    return x.dtype == torch.float32


def conv_act(x, weight, bias, conv, relu, residual=None, inplace=False):
    """``conv(x, weight) + bias [+ residual]``, then ReLU if ``relu``: one
    oneDNN primitive where that is safe (see :mod:`.cpu_kernels`), public
    ops otherwise.

    Args:
        x (Tensor): Input ``(N, C, T, H, W)``.
        weight (Tensor): The conv's weight (BN folded in), cast to ``x``'s
            dtype if it differs.
        bias (Tensor | None): The conv's bias, likewise.
        conv (nn.Conv3d): Gives stride, padding, dilation and groups; on the
            public path its ``_conv_forward`` computes the conv.
        relu (bool): Apply ReLU last.
        residual (Tensor, optional): Added before the ReLU.
        inplace (bool): Write the result into ``residual``, which the caller
            owns and no longer needs (never with gradients).
    """
    weight = weight.to(x.dtype)
    bias = None if bias is None else bias.to(x.dtype)
    if residual is not None:
        residual = residual.to(x.dtype)
    if _may_use_private(x, weight) and bias is not None:
        op = 'unary' if residual is None else (
            'binary_' if inplace else 'binary')
        fmt = _format_of(x)
        if private_op_works(op, x.dtype, fmt):
            try:
                return _private(op, x, weight, bias, conv, relu, residual)
            except RuntimeError as err:
                _status[(op, x.dtype, fmt)] = False
                log_once(
                    ('kernel-failed', op, x.dtype, fmt),
                    f"csn_plugin: oneDNN's fused conv op ({op}, "
                    f'{str(x.dtype)[6:]}, {fmt}) failed at run time '
                    f"({str(err).splitlines()[0][:200]}); the public ops "
                    f'run instead from now on.', level='WARNING')
    return _public(x, weight, bias, conv, relu, residual, inplace)
