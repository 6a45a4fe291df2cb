"""A backbone part with eval-mode BN folded into the convs and kernels fused.

What a backbone runs for its stem and each stage (:func:`run_part`) when a
call reaches them with every BatchNorm in eval mode: validation and testing,
and training with frozen BN (``norm_eval``, as CSN fine-tuning does). Each
conv unit is one conv with its BN folded in (per call for a ``ConvModule``,
since the weights may change between calls, differentiably; once, by
:mod:`.deploy`, for a :class:`~.deploy.FusedConv3d`) and its ReLU applied in
place. Without gradients, on the CPU, the unit is one oneDNN kernel
(:func:`~.fused_kernels.conv_act`), and a residual block's last conv adds the
shortcut and applies the final ReLU in the same kernel, writing into a
tensor made inside this call. That saves the BN, ReLU and add passes over
the feature maps and, without gradients, most fresh allocations: on CPU, new
large tensors cost page faults.

The path reads the structure through explicit interfaces only: conv units
(``ConvModule`` with a BatchNorm and a ReLU or no activation, or
``FusedConv3d``), residual blocks (:class:`~..blocks.ResidualBlock3d`:
``steps``, ``downsample``, ``relu``) and ``nn.Sequential`` containers; any
other module runs as it is.

It steps aside, so that the modules run one by one as in MMAction2, whenever
that could be observed or is not supported (:func:`applies`): a hook on any
module of the part (or a global one), a BatchNorm in training mode, gradient
checkpointing while gradients are on, a tracer (ONNX export,
``torch.compile``, FX), a tensor off the CPU, the ``fused`` path disabled
(:mod:`.support`), or bf16 inference on a CPU without native bf16.
"""
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..blocks import ResidualBlock3d
from .deploy import FusedConv3d, unit_problem
from .fold_bn import folded_params
from .fused_kernels import conv_act
from .mixed_precision import cpu_bf16_autocast
from .support import enabled, hooked, native_bf16, tracing

__all__ = ['applies', 'run', 'run_part']


def run_part(part, x):
    """``part(x)``, by the fused path where :func:`applies`."""
    if torch.compiler.is_compiling():  # the compiler fuses on its own
        return part(x)
    return run(part, x) if applies(part, x) else part(x)


def applies(part, x):
    """Whether ``part(x)`` may take the fused path."""
    if tracing() or x.device.type != 'cpu' or not enabled('fused'):
        return False
    grad = torch.is_grad_enabled()
    dtype = torch.bfloat16 if cpu_bf16_autocast() else x.dtype
    if dtype not in (torch.float32, torch.float64, torch.bfloat16):
        return False
    if dtype == torch.bfloat16 and not grad and not native_bf16():
        return False
    for m in part.modules():
        if isinstance(m, _BatchNorm) and m.training:
            return False
        if grad and getattr(m, 'with_cp', False):
            return False
    return not hooked(part)


def run(part, x):
    """Run ``part`` on ``x`` by the fused path; ``x`` is never written.

    Under CPU bf16 autocast without gradients it computes in bf16, as
    autocast would (the fused kernels are not autocast ops)."""
    if cpu_bf16_autocast() and not torch.is_grad_enabled():
        x = x.to(torch.bfloat16)
    return _run(part, x, owned=False)


def _run(module, x, owned):
    """``module(x)``; ``owned``: ``x`` was made inside this call and nothing
    else holds it, so a block may write its output into it."""
    if _is_unit(module):
        return _unit(module, x)
    if isinstance(module, ResidualBlock3d):
        return _block(module, x, owned)
    if isinstance(module, nn.Sequential):
        for child in module:
            out = _run(child, x, owned)
            owned = owned or not _same_storage(out, x)
            x = out
        return x
    return module(x)


def _block(block, x, owned):
    """With gradients nothing is written in place: autograd keeps the
    block's input for the backward pass."""
    if block.downsample is None:
        identity, writable = x, owned
    else:
        identity, writable = _run(block.downsample, x, False), True
    writable = writable and not torch.is_grad_enabled()
    steps = list(block.steps)
    out = x
    for step in steps[:-1]:
        out = _run(step, out, False)
    return _with_residual(steps[-1], out, identity, writable, block.relu)


def _with_residual(step, x, identity, writable, act):
    """``act(step(x) + identity)``: in the last unit's kernel when that unit
    has no activation of its own and ``act`` is a ReLU."""
    if (_is_unit(step) and not _has_relu(step)
            and type(act) is nn.ReLU):
        weight, bias, conv = _params(step, x.dtype)
        return conv_act(x, weight, bias, conv, relu=True, residual=identity,
                        inplace=writable)
    if isinstance(step, nn.Sequential) and len(step):
        for child in list(step)[:-1]:
            x = _run(child, x, False)
        return _with_residual(step[-1], x, identity, writable, act)
    out = _run(step, x, False)
    return act(identity.add_(out) if writable else out + identity)


def _is_unit(module):
    return isinstance(module, FusedConv3d) or unit_problem(module) is None


def _has_relu(unit):
    if isinstance(unit, FusedConv3d):
        return unit.relu
    return unit.with_activation


def _params(unit, dtype):
    """Weight, bias (BN folded in) and the conv module of a unit."""
    if isinstance(unit, FusedConv3d):
        weight, bias = unit.params_as(dtype)
        return weight, bias, unit
    conv = unit.conv
    if unit.with_norm:
        weight, bias = folded_params(conv, unit.norm)
    else:
        weight, bias = conv.weight, conv.bias
    return weight, bias, conv


def _unit(unit, x):
    weight, bias, conv = _params(unit, x.dtype)
    return conv_act(x, weight, bias, conv, relu=_has_relu(unit))


def _same_storage(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
