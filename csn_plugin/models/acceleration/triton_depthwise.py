"""CSN's depthwise 3D conv as fused Triton kernels, forward and backward.

:func:`depthwise_conv3d` computes::

    y = act(dwconv3d(x, weight, stride, padding, dilation) + bias [+ residual])

with ``act`` a ReLU or nothing, in one pass over ``x``: the bias (a folded
BatchNorm's shift), the residual add and the ReLU happen while the conv's
sum is in registers, in fp32, with one rounding to the output dtype. The
conv is depthwise with channel multiplier 1 (``groups == C_in == C_out``),
any odd kernel size (CSN's 3×3×3), explicit zero padding, any stride and
dilation. One kernel serves both memory layouts: it reads all five strides
of every tensor, so NCDHW (contiguous) and NDHWC (``channels_last_3d``)
inputs, and any other strided view, work; the output has the input's
layout. Inputs in fp32, bf16 or fp16 (fp64 too, for checks) accumulate in
fp32.

Design, for a memory-bound op on a GPU: a program computes a tile of
``BLOCK_C`` channels by ``BLOCK_S`` output positions (``(t, h, w)``
flattened) of one clip, and the taps re-read neighbouring positions from
L1/L2. The tile's positions are its fast axis, so NCDHW loads run along
the width; in NDHWC the channel stride is 1, which Triton specialises on
and which makes its coalescing pass run the loads along the channels
instead. On a GPU the tile sizes are autotuned per shape, stride, ReLU
and layout.

The backward pass is two more kernels: the input gradient (the transposed
depthwise conv: each input position gathers the output positions it fed,
with the stride's divisibility and the dilation respected, weights not
flipped but indexed backwards) and the weight and bias gradients (a
two-stage reduction over ``N, T, H, W``: each program sums its share of
rows into a ``[taps + 1, BLOCK_C]`` tile in registers and writes it to a
partial buffer, the host sums the partials; no atomics, deterministic). The
ReLU's mask comes from the saved output (``y > 0``), read inside both
kernels; the residual's gradient is the masked output gradient.

On CPU tensors the kernels run under Triton's interpreter, which needs
``TRITON_INTERPRET=1`` in the environment before Triton is first imported
(anywhere in the process: ``torch.compile`` imports it too). This module
imports Triton when a kernel first runs: importing the module costs
nothing and works without Triton installed; calling the kernel then raises
a ``RuntimeError`` that names the ``gpu`` extra (``pip install
csn_plugin[gpu]``).
"""
# The kernels' annotations stay strings ('tl.constexpr'), which is what
# triton.jit reads: Triton need not be imported to define them.
from __future__ import annotations

import functools
import importlib.util
import os

import torch

# Set by _import_triton() on first use.
triton = tl = None

__all__ = ['available', 'depthwise_conv3d', 'interpreting', 'problem']

#: Largest tiles under Triton's interpreter (CPU), whose cost is per
#: operation, not per element: few programs of large tiles run fastest.
INTERPRET_BLOCKS = dict(BLOCK_S=1024, BLOCK_C=32)
#: Floating dtypes the kernels take (fp64 for finite-difference checks).
DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def available():
    """Whether Triton is installed (the ``gpu`` extra)."""
    return triton is not None or importlib.util.find_spec('triton') is not None


def _import_triton():
    global triton, tl
    if triton is None:
        try:
            import triton as triton_module
            import triton.language as tl_module
        except ImportError as err:
            raise RuntimeError(
                "csn_plugin's Triton depthwise kernels need Triton: install "
                "the 'gpu' extra (pip install 'csn_plugin[gpu]')") from err
        triton, tl = triton_module, tl_module


def interpreting():
    """Whether Triton runs kernels under its CPU interpreter
    (``TRITON_INTERPRET=1``)."""
    return os.environ.get('TRITON_INTERPRET', '0') not in ('', '0')


def _triple(value, name):
    if isinstance(value, int):
        return (value, ) * 3
    value = tuple(value)
    if len(value) != 3 or not all(isinstance(v, int) for v in value):
        raise ValueError(f'{name} must be an int or three ints, got {value}')
    return value


def problem(x, weight, stride, padding, dilation, groups=None):
    """Why :func:`depthwise_conv3d` cannot compute this conv, or None."""
    if x.dim() != 5 or weight.dim() != 5:
        return (f'input and weight must be 5-D, got {x.dim()}-D and '
                f'{weight.dim()}-D')
    channels = x.shape[1]
    if groups is not None and groups != channels:
        return f'groups={groups} is not the channel count {channels}'
    if weight.shape[0] != channels or weight.shape[1] != 1:
        return (f'weight {tuple(weight.shape)} is not depthwise with channel '
                f'multiplier 1 for {channels} channels')
    if any(k % 2 == 0 for k in weight.shape[2:]):
        return f'kernel {tuple(weight.shape[2:])} is not odd'
    if isinstance(padding, str):
        return f'padding={padding!r} is not explicit'
    for name, value, low in (('stride', stride, 1), ('padding', padding, 0),
                             ('dilation', dilation, 1)):
        try:
            value = _triple(value, name)
        except ValueError as err:
            return str(err)
        if min(value) < low:
            return f'{name}={value} has a value below {low}'
    if x.dtype not in DTYPES:
        return f'dtype {x.dtype} is not one of {DTYPES}'
    if x.device != weight.device:
        return f'input on {x.device}, weight on {weight.device}'
    if x.device.type not in ('cuda', 'cpu'):
        return f'device {x.device} is neither CUDA nor CPU'
    return None


def _output_size(size, k, stride, pad, dil):
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def _empty_like_layout(x, shape, dtype=None):
    """An empty tensor of ``shape`` in ``x``'s memory layout (NDHWC when
    ``x`` is channels-last and not also contiguous)."""
    channels_last = (not x.is_contiguous()
                     and x.is_contiguous(memory_format=torch.channels_last_3d))
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    return torch.empty(shape, dtype=dtype or x.dtype, device=x.device,
                       memory_format=fmt)


def _channels_last(x):
    return int(x.stride(1) == 1 and x.shape[1] > 1)


# ---------------------------------------------------------------------------
# Kernels (plain functions; :func:`_kernels` hands them to ``triton.jit``).
# ---------------------------------------------------------------------------


def _forward_kernel(
        x_ptr, w_ptr, b_ptr, r_ptr, y_ptr,
        C, T_in, H_in, W_in, T_out, H_out, W_out,
        sxn, sxc, sxt, sxh, sxw,
        srn, src, srt, srh, srw,
        syn, syc, syt, syh, syw,
        PT, PH, PW, DT, DH, DW,
        ST: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
        KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
        HAS_BIAS: tl.constexpr, HAS_RES: tl.constexpr, RELU: tl.constexpr,
        CHANNELS_LAST: tl.constexpr,
        BLOCK_S: tl.constexpr, BLOCK_C: tl.constexpr):
    """One ``[BLOCK_C, BLOCK_S]`` tile of ``y``: a run of channels by a run
    of output positions (``(t, h, w)`` flattened), of sample
    ``program_id(2)``."""
    n = tl.program_id(2).to(tl.int64)
    offs_s = tl.program_id(0) * BLOCK_S + tl.arange(0, BLOCK_S)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    s_ok = offs_s < T_out * H_out * W_out
    c_ok = offs_c < C
    w_o = offs_s % W_out
    h_o = (offs_s // W_out) % H_out
    t_o = offs_s // (W_out * H_out)
    x_base = x_ptr + n * sxn + offs_c[:, None] * sxc
    w_base = w_ptr + offs_c * (KT * KH * KW)
    acc = tl.zeros([BLOCK_C, BLOCK_S], dtype=tl.float32)
    for kt in tl.static_range(KT):
        t_i = t_o * ST - PT + kt * DT
        t_ok = s_ok & (t_i >= 0) & (t_i < T_in)
        for kh in tl.static_range(KH):
            h_i = h_o * SH - PH + kh * DH
            h_ok = t_ok & (h_i >= 0) & (h_i < H_in)
            th = t_i * sxt + h_i * sxh
            for kw in tl.static_range(KW):
                w_i = w_o * SW - PW + kw * DW
                ok = h_ok & (w_i >= 0) & (w_i < W_in)
                xv = tl.load(x_base + (th + w_i * sxw)[None, :],
                             mask=ok[None, :] & c_ok[:, None], other=0.)
                wv = tl.load(w_base + ((kt * KH + kh) * KW + kw), mask=c_ok,
                             other=0.)
                acc += xv.to(tl.float32) * wv.to(tl.float32)[:, None]
    if HAS_BIAS:
        bv = tl.load(b_ptr + offs_c, mask=c_ok, other=0.)
        acc += bv.to(tl.float32)[:, None]
    tile_ok = s_ok[None, :] & c_ok[:, None]
    if HAS_RES:
        rv = tl.load(r_ptr + n * srn + offs_c[:, None] * src +
                     (t_o * srt + h_o * srh + w_o * srw)[None, :],
                     mask=tile_ok, other=0.)
        acc += rv.to(tl.float32)
    if RELU:
        acc = tl.maximum(acc, 0.)
    tl.store(y_ptr + n * syn + offs_c[:, None] * syc +
             (t_o * syt + h_o * syh + w_o * syw)[None, :],
             acc.to(y_ptr.dtype.element_ty), mask=tile_ok)


def _grad_input_kernel(
        g_ptr, y_ptr, w_ptr, dx_ptr,
        C, T_in, H_in, W_in, T_out, H_out, W_out,
        sgn, sgc, sgt, sgh, sgw,
        syn, syc, syt, syh, syw,
        sdn, sdc, sdt, sdh, sdw,
        PT, PH, PW, DT, DH, DW,
        ST: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
        KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
        RELU: tl.constexpr, CHANNELS_LAST: tl.constexpr,
        BLOCK_S: tl.constexpr, BLOCK_C: tl.constexpr):
    """One ``[BLOCK_C, BLOCK_S]`` tile of ``dx`` (channels by input
    positions): the sum over taps of ``g[the output position this tap fed]
    * w[tap]``, where ``g`` is the output gradient, zero where ``y <= 0``
    under a ReLU."""
    n = tl.program_id(2).to(tl.int64)
    offs_s = tl.program_id(0) * BLOCK_S + tl.arange(0, BLOCK_S)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    s_ok = offs_s < T_in * H_in * W_in
    c_ok = offs_c < C
    w_i = offs_s % W_in
    h_i = (offs_s // W_in) % H_in
    t_i = offs_s // (W_in * H_in)
    g_base = g_ptr + n * sgn + offs_c[:, None] * sgc
    y_base = y_ptr + n * syn + offs_c[:, None] * syc
    w_base = w_ptr + offs_c * (KT * KH * KW)
    acc = tl.zeros([BLOCK_C, BLOCK_S], dtype=tl.float32)
    for kt in tl.static_range(KT):
        t_num = t_i + PT - kt * DT
        t_o = t_num // ST
        t_ok = s_ok & (t_num >= 0) & (t_num % ST == 0) & (t_o < T_out)
        for kh in tl.static_range(KH):
            h_num = h_i + PH - kh * DH
            h_o = h_num // SH
            h_ok = t_ok & (h_num >= 0) & (h_num % SH == 0) & (h_o < H_out)
            for kw in tl.static_range(KW):
                w_num = w_i + PW - kw * DW
                w_o = w_num // SW
                ok = h_ok & (w_num >= 0) & (w_num % SW == 0) & (w_o < W_out)
                mask = ok[None, :] & c_ok[:, None]
                gv = tl.load(g_base + (t_o * sgt + h_o * sgh +
                                       w_o * sgw)[None, :],
                             mask=mask, other=0.).to(tl.float32)
                if RELU:
                    yv = tl.load(y_base + (t_o * syt + h_o * syh +
                                           w_o * syw)[None, :],
                                 mask=mask, other=0.)
                    gv = tl.where(yv > 0, gv, 0.)
                wv = tl.load(w_base + ((kt * KH + kh) * KW + kw), mask=c_ok,
                             other=0.)
                acc += gv * wv.to(tl.float32)[:, None]
    tl.store(dx_ptr + n * sdn + offs_c[:, None] * sdc +
             (t_i * sdt + h_i * sdh + w_i * sdw)[None, :],
             acc.to(dx_ptr.dtype.element_ty),
             mask=s_ok[None, :] & c_ok[:, None])


def _grad_params_kernel(
        g_ptr, y_ptr, x_ptr, part_ptr,
        N, C, T_in, H_in, W_in, T_out, H_out, W_out,
        sgn, sgc, sgt, sgh, sgw,
        syn, syc, syt, syh, syw,
        sxn, sxc, sxt, sxh, sxw,
        PT, PH, PW, DT, DH, DW,
        ST: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
        KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
        KPAD: tl.constexpr, RELU: tl.constexpr,
        CHANNELS_LAST: tl.constexpr,
        BLOCK_S: tl.constexpr, BLOCK_C: tl.constexpr):
    """Partial weight and bias gradients of ``BLOCK_C`` channels: program
    ``(c, j)`` sums the rows (a sample's run of ``BLOCK_S`` output
    positions) ``j, j + num_programs(1), ...`` into a ``[KPAD, BLOCK_C]``
    tile, slot ``k < KT*KH*KW`` holding tap ``k``'s ``sum(g * x[tap])`` and
    slot ``KT*KH*KW`` ``sum(g)``, and stores it as partial ``j``."""
    offs_c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = offs_c < C
    slots = tl.arange(0, KPAD)[:, None]
    acc = tl.zeros([KPAD, BLOCK_C], dtype=tl.float32)
    positions = T_out * H_out * W_out
    s_blocks = tl.cdiv(positions, BLOCK_S)
    for row in range(tl.program_id(1), N * s_blocks, tl.num_programs(1)):
        n = (row // s_blocks).to(tl.int64)
        offs_s = (row % s_blocks) * BLOCK_S + tl.arange(0, BLOCK_S)
        s_ok = offs_s < positions
        w_o = offs_s % W_out
        h_o = (offs_s // W_out) % H_out
        t_o = offs_s // (W_out * H_out)
        tile_ok = s_ok[None, :] & c_ok[:, None]
        gv = tl.load(g_ptr + n * sgn + offs_c[:, None] * sgc +
                     (t_o * sgt + h_o * sgh + w_o * sgw)[None, :],
                     mask=tile_ok, other=0.).to(tl.float32)
        if RELU:
            yv = tl.load(y_ptr + n * syn + offs_c[:, None] * syc +
                         (t_o * syt + h_o * syh + w_o * syw)[None, :],
                         mask=tile_ok, other=0.)
            gv = tl.where(yv > 0, gv, 0.)
        acc += tl.where(slots == KT * KH * KW, tl.sum(gv, axis=1)[None, :],
                        0.)
        x_base = x_ptr + n * sxn + offs_c[:, None] * sxc
        for kt in tl.static_range(KT):
            t_i = t_o * ST - PT + kt * DT
            t_ok = s_ok & (t_i >= 0) & (t_i < T_in)
            for kh in tl.static_range(KH):
                h_i = h_o * SH - PH + kh * DH
                h_ok = t_ok & (h_i >= 0) & (h_i < H_in)
                th = t_i * sxt + h_i * sxh
                for kw in tl.static_range(KW):
                    w_i = w_o * SW - PW + kw * DW
                    ok = h_ok & (w_i >= 0) & (w_i < W_in)
                    xv = tl.load(x_base + (th + w_i * sxw)[None, :],
                                 mask=ok[None, :] & c_ok[:, None], other=0.)
                    tap = tl.sum(gv * xv.to(tl.float32), axis=1)
                    acc += tl.where(slots == (kt * KH + kh) * KW + kw,
                                    tap[None, :], 0.)
    tl.store(part_ptr + tl.program_id(1) * (KPAD * C) + slots * C +
             offs_c[None, :], acc,
             mask=(slots <= KT * KH * KW) & c_ok[None, :])


def _gpu_configs():
    """Tile sizes the autotuner tries on a GPU: wide channel tiles suit
    NDHWC, long spatial runs NCDHW (the key tells the layouts apart)."""
    sizes = [(32, 64, 4), (64, 32, 4), (128, 16, 4), (64, 64, 8),
             (256, 8, 4), (128, 4, 4), (512, 4, 8), (16, 128, 4)]
    return [triton.Config({'BLOCK_S': s, 'BLOCK_C': c}, num_warps=w)
            for s, c, w in sizes]


@functools.lru_cache()
def _kernels(interpret):
    """The three kernels, jitted for the interpreter or the GPU (the mode
    ``triton.jit`` reads from the environment when it runs)."""
    _import_triton()
    kernels = [triton.jit(fn) for fn in (_forward_kernel, _grad_input_kernel,
                                         _grad_params_kernel)]
    if interpret:
        return kernels
    key = ['C', 'T_out', 'H_out', 'W_out', 'ST', 'SH', 'SW', 'RELU',
           'CHANNELS_LAST']
    # every program stores (never adds) its tiles: reruns are harmless
    return [triton.autotune(configs=_gpu_configs(), key=key)(kernel)
            for kernel in kernels]


def _launch(index, device, grid, positions, channels, *args, **meta):
    """Launch kernel ``index`` of :func:`_kernels` on ``device``'s tensors
    (tiles over ``positions`` by ``channels``); ``grid`` maps the tile
    sizes to the launch grid."""
    interpret = interpreting()
    if device.type == 'cpu' and not interpret:
        raise RuntimeError(
            "csn_plugin's Triton depthwise kernels run on CPU tensors only "
            "under Triton's interpreter: set TRITON_INTERPRET=1 in the "
            'environment')
    kernel = _kernels(interpret)[index]
    if interpret and not _library_interpreted():
        raise RuntimeError(
            'TRITON_INTERPRET=1 was set after Triton was imported: Triton '
            'builds its own library for the interpreter only when it is '
            'first imported; set the variable before that import')
    if interpret:
        blocks = dict(
            BLOCK_S=min(triton.next_power_of_2(positions),
                        INTERPRET_BLOCKS['BLOCK_S']),
            BLOCK_C=min(triton.next_power_of_2(channels),
                        INTERPRET_BLOCKS['BLOCK_C']))
        kernel[grid(blocks)](*args, **meta, **blocks)
    else:
        with torch.cuda.device(device):
            kernel[grid](*args, **meta)


def _library_interpreted():
    """Whether Triton's own library functions (``tl.zeros``, ``tl.sum``)
    were built for the interpreter, as they are when ``TRITON_INTERPRET=1``
    is set before Triton's first import."""
    return type(tl.zeros).__name__ == 'InterpretedFunction'


def _conv_meta(weight, stride, padding, dilation):
    kt, kh, kw = weight.shape[2:]
    return dict(ST=stride[0], SH=stride[1], SW=stride[2], KT=kt, KH=kh,
                KW=kw), (*padding, *dilation)


def _tile_grid(n, positions, channels):
    """The grid of :func:`_forward_kernel` and :func:`_grad_input_kernel`:
    spatial tiles first (neighbours share their halo in L2), then channel
    tiles, then samples."""

    def grid(blocks):
        return (triton.cdiv(positions, blocks['BLOCK_S']),
                triton.cdiv(channels, blocks['BLOCK_C']), n)

    return grid


def _forward(x, weight, bias, residual, stride, padding, dilation, relu):
    n, c, t_in, h_in, w_in = x.shape
    out_size = [_output_size(s, k, st, p, d) for s, k, st, p, d in zip(
        (t_in, h_in, w_in), weight.shape[2:], stride, padding, dilation)]
    if min(out_size) < 1:
        raise ValueError(f'depthwise conv of input {tuple(x.shape)} with '
                         f'kernel {tuple(weight.shape[2:])}, padding '
                         f'{padding}, dilation {dilation} has no output')
    y = _empty_like_layout(x, (n, c, *out_size))
    if residual is not None and tuple(residual.shape) != tuple(y.shape):
        raise ValueError(f'residual {tuple(residual.shape)} does not match '
                         f'the conv output {tuple(y.shape)}')
    if y.numel() == 0:
        return y
    meta, pad_dil = _conv_meta(weight, stride, padding, dilation)
    positions = out_size[0] * out_size[1] * out_size[2]
    res = y if residual is None else residual
    _launch(0, x.device, _tile_grid(n, positions, c), positions, c,
            x, weight, y if bias is None else bias, res, y,
            c, t_in, h_in, w_in, *out_size,
            *x.stride(), *res.stride(), *y.stride(), *pad_dil,
            HAS_BIAS=bias is not None, HAS_RES=residual is not None,
            RELU=relu, CHANNELS_LAST=_channels_last(x), **meta)
    return y


def _grad_input(grad, y, x, weight, stride, padding, dilation, relu):
    n, c, t_in, h_in, w_in = x.shape
    dx = _empty_like_layout(x, x.shape)
    if dx.numel() == 0:
        return dx
    meta, pad_dil = _conv_meta(weight, stride, padding, dilation)
    positions = t_in * h_in * w_in
    y = grad if y is None else y
    _launch(1, x.device, _tile_grid(n, positions, c), positions, c,
            grad, y, weight, dx, c, t_in, h_in, w_in, *grad.shape[2:],
            *grad.stride(), *y.stride(), *dx.stride(), *pad_dil,
            RELU=relu, CHANNELS_LAST=_channels_last(x), **meta)
    return dx


def _split(rows, device):
    """How many programs share the rows of a channel tile (each stores its
    own partial sums)."""
    if device.type == 'cpu' or interpreting():
        return 1
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    return max(1, min(rows, 2 * sms))


def _grad_params(grad, y, x, weight, stride, padding, dilation, relu):
    """``(grad_weight, grad_bias)`` in fp32."""
    n, c, t_in, h_in, w_in = x.shape
    taps = weight.shape[2] * weight.shape[3] * weight.shape[4]
    positions = grad.shape[2] * grad.shape[3] * grad.shape[4]
    split = _split(n * triton.cdiv(positions, 64), x.device)
    kpad = triton.next_power_of_2(taps + 1)
    part = torch.empty((split, kpad, c), dtype=torch.float32,
                       device=x.device)
    meta, pad_dil = _conv_meta(weight, stride, padding, dilation)
    y = grad if y is None else y

    def grid(blocks):
        return (triton.cdiv(c, blocks['BLOCK_C']), split)

    _launch(2, x.device, grid, positions, c, grad, y, x, part,
            n, c, t_in, h_in, w_in, *grad.shape[2:],
            *grad.stride(), *y.stride(), *x.stride(), *pad_dil,
            KPAD=kpad, RELU=relu, CHANNELS_LAST=_channels_last(x), **meta)
    total = part.sum(0)
    return total[:taps].t().reshape(weight.shape), total[taps]


class _DepthwiseConv3d(torch.autograd.Function):
    """Autograd of the fused kernels; saves the output for the ReLU's
    mask."""

    @staticmethod
    def forward(ctx, x, weight, bias, residual, stride, padding, dilation,
                relu):
        y = _forward(x, weight, bias, residual, stride, padding, dilation,
                     relu)
        ctx.conv = (stride, padding, dilation, relu)
        ctx.dtypes = (weight.dtype, None if bias is None else bias.dtype)
        ctx.save_for_backward(x, weight, y if relu else None)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        stride, padding, dilation, relu = ctx.conv
        need_x, need_w, need_b, need_r = ctx.needs_input_grad[:4]
        grad_x = grad_w = grad_b = grad_r = None
        if need_x:
            grad_x = _grad_input(grad, y, x, weight, stride, padding,
                                 dilation, relu)
        if need_w or need_b:
            grad_w, grad_b = _grad_params(grad, y, x, weight, stride,
                                          padding, dilation, relu)
            grad_w = grad_w.to(ctx.dtypes[0]) if need_w else None
            grad_b = grad_b.to(ctx.dtypes[1]) if need_b else None
        if need_r:
            grad_r = grad.masked_fill(y <= 0, 0) if relu else grad
        return grad_x, grad_w, grad_b, grad_r, None, None, None, None


def depthwise_conv3d(x, weight, bias=None, stride=1, padding=1, dilation=1,
                     relu=False, residual=None):
    """``F.conv3d(x, weight, bias, stride, padding, dilation, groups=C)``,
    plus ``residual`` if given, then ReLU if ``relu``, as one Triton kernel
    (and two for the backward pass).

    Args:
        x (Tensor): Input ``(N, C, T, H, W)``, NCDHW or NDHWC (any strides),
            fp32, bf16, fp16 (or fp64), on a CUDA device, or on the CPU
            under ``TRITON_INTERPRET=1``.
        weight (Tensor): ``(C, 1, kT, kH, kW)``, odd kernel sizes. Read in
            fp32 whatever its dtype; its gradient has its dtype.
        bias (Tensor, optional): ``(C,)``, a folded BatchNorm's shift.
        stride (int | tuple[int]): Per ``(T, H, W)``.
        padding (int | tuple[int]): Zero padding per ``(T, H, W)``.
        dilation (int | tuple[int]): Per ``(T, H, W)``.
        relu (bool): Apply ReLU last.
        residual (Tensor, optional): Added before the ReLU; the output's
            shape, any layout and float dtype.

    Returns:
        Tensor: ``x``'s dtype and memory layout.
    """
    reason = problem(x, weight, stride, padding, dilation)
    if reason is not None:
        raise ValueError(f'depthwise_conv3d: {reason}')
    _import_triton()  # or the error that names the 'gpu' extra
    stride, padding, dilation = (
        _triple(v, name) for v, name in ((stride, 'stride'),
                                         (padding, 'padding'),
                                         (dilation, 'dilation')))
    if bias is not None and tuple(bias.shape) != (x.shape[1], ):
        raise ValueError(f'depthwise_conv3d: bias {tuple(bias.shape)} is not '
                         f'({x.shape[1]},)')
    return _DepthwiseConv3d.apply(x, weight.contiguous(), bias, residual,
                                  stride, padding, dilation, bool(relu))
