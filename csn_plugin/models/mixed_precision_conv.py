"""A Conv3d that keeps fp32 where oneDNN's bf16 training kernels fall short.

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
import torch
import torch.nn as nn
from mmengine.registry import MODELS

__all__ = ['MixedPrecisionConv3d', 'cpu_bf16_autocast']


def cpu_bf16_autocast():
    """Whether CPU autocast to bfloat16 is on."""
    return (torch.is_autocast_enabled('cpu')
            and torch.get_autocast_dtype('cpu') == torch.bfloat16)


@MODELS.register_module()
class MixedPrecisionConv3d(nn.Conv3d):
    """``nn.Conv3d`` that, while training under CPU bf16 autocast, runs in
    fp32 when it is depthwise or sees 2 frames with a temporal kernel.

    Same arguments, parameters and state dict as ``nn.Conv3d``; the default
    conv layer of :class:`FactorizedResNet3d` (``conv_cfg``).
    """

    def _conv_forward(self, input, weight, bias):
        if self._fp32_under_cpu_bf16(input):
            with torch.autocast('cpu', enabled=False):
                return super()._conv_forward(
                    input.float(), weight.float(),
                    None if bias is None else bias.float())
        return super()._conv_forward(input, weight, bias)

    def _fp32_under_cpu_bf16(self, input):
        if not (input.device.type == 'cpu' and torch.is_grad_enabled()
                and cpu_bf16_autocast()):
            return False
        depthwise = self.groups > 1 and self.groups == self.in_channels
        two_frames = (self.kernel_size[0] > 1 and self.stride[0] == 1
                      and input.shape[2] == 2)
        return depthwise or two_frames
