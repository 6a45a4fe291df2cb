"""bf16 where this CPU computes it natively, and fp32 where bf16 is slow or
wrong.

:func:`bf16_autocast` is the autocast of ``BF16OptimWrapper`` and of
mmengine's ``fp16=True`` validation and test loops on the CPU (through
:mod:`csn_plugin.compat.cpu_autocast`): bf16 on a CPU with native bf16, and
on any other CPU one warning and fp32. There oneDNN either refuses bf16
convolutions (AVX2-only CPUs) or emulates them, slower than fp32.

:class:`MixedPrecisionConv3d` keeps some convs in fp32 inside bf16 training.
Measured with torch 2.13 (oneDNN 3.12) on an AVX512-BF16 CPU, training under
CPU bf16 autocast (``BF16OptimWrapper``):

- the backward pass of a 3x3x3 *depthwise* conv is 2 to 5 times slower in
  bf16 than in fp32, which cancels what bf16 gains on the 1x1x1 convs of a
  CSN; its forward is cheap either way;
- the weight gradient of a bf16 conv with a temporal kernel over a 2-frame
  input at temporal stride 1 is wrong (about 100% off, or inf), in either
  memory layout; docs/performance.md has a reproducer.

So those convs compute in fp32 there; every other case, inference included,
is ``nn.Conv3d``.
"""
import contextlib

import torch
import torch.nn as nn
from mmengine.registry import MODELS

from .depthwise_route import depthwise_conv3d_routed, forced_paths
from .support import cpu_summary, log_once, native_bf16, tracing

__all__ = [
    'MixedPrecisionConv3d', 'bf16_autocast', 'cpu_bf16_autocast',
    'cpu_bf16_or_warn'
]


def cpu_bf16_or_warn():
    """Whether bf16 asked for on the CPU should run in bf16: True with
    native bf16; otherwise False, with a warning the first time."""
    if native_bf16():
        return True
    log_once(
        'bf16-fallback',
        f'csn_plugin: bf16 was asked for, but this CPU has no native bf16 '
        f'(AVX512-BF16, AMX or AVX-NE-CONVERT; or CSN_PLUGIN_DISABLE=bf16): '
        f'{cpu_summary()}. It runs in fp32 instead.',
        level='WARNING')
    return False


def bf16_autocast(device_type):
    """``torch.autocast`` to bf16 on ``device_type``, unless that is a CPU
    without native bf16: then fp32 (see :func:`cpu_bf16_or_warn`).

    Args:
        device_type (str): ``'cpu'`` or ``'cuda'``.
    """
    if device_type == 'cpu' and not cpu_bf16_or_warn():
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.bfloat16)


def cpu_bf16_autocast():
    """Whether CPU autocast to bfloat16 is on."""
    return (torch.is_autocast_enabled('cpu')
            and torch.get_autocast_dtype('cpu') == torch.bfloat16)


@MODELS.register_module()
class MixedPrecisionConv3d(nn.Conv3d):
    """``nn.Conv3d`` that, while training under CPU bf16 autocast, runs in
    fp32 when it is depthwise or sees 2 frames with a temporal kernel.

    On CUDA (or with the ``triton`` path forced, see
    :mod:`.depthwise_route`) a depthwise conv goes through the depthwise
    router, which takes the Triton kernel where it measured faster than
    cuDNN; in training too, and with frozen BN folded per call by mmcv's
    ``efficient_conv_bn_eval`` (which calls :meth:`_conv_forward` with the
    folded weights).

    Same arguments, parameters and state dict as ``nn.Conv3d``; the default
    conv layer of ``FactorizedResNet3d`` (``conv_cfg``).
    """

    def _conv_forward(self, input, weight, bias):
        if self._routes_depthwise(input):
            return depthwise_conv3d_routed(input, weight, bias, self)
        if self._fp32_under_cpu_bf16(input):
            with torch.autocast('cpu', enabled=False):
                return super()._conv_forward(
                    input.float(), weight.float(),
                    None if bias is None else bias.float())
        return super()._conv_forward(input, weight, bias)

    def _routes_depthwise(self, input):
        """Whether this call goes through the depthwise router: a depthwise
        conv with channel multiplier 1, not traced, on CUDA or with Triton
        forced."""
        if not 1 < self.groups == self.in_channels == self.out_channels:
            return False
        if tracing():
            return False
        return input.device.type == 'cuda' or 'triton' in forced_paths()

    def _fp32_under_cpu_bf16(self, input):
        # the global states first: under FX tracing ``input`` is a proxy
        if not (torch.is_grad_enabled() and cpu_bf16_autocast()):
            return False
        if input.device.type != 'cpu':
            return False
        depthwise = self.groups > 1 and self.groups == self.in_channels
        two_frames = (self.kernel_size[0] > 1 and self.stride[0] == 1
                      and input.shape[2] == 2)
        return depthwise or two_frames
