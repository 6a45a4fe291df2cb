"""Inference through ``torch.compile``, in a wrapper that steps aside for
hooks.

:class:`CompiledInference` runs a module through ``torch.compile`` with
inductor's freezing (weights become constants: BatchNorms folded, conv
weights packed once for oneDNN, conv + bias + ReLU + residual add fused into
oneDNN primitives, the other pointwise work in generated C++). It is meant
for a deployed backbone (:mod:`.deploy`): weights changed after a shape's
first call are not seen.

It compiles on the CPU (oneDNN) and on CUDA (Triton kernels and cuDNN
convolutions). Each new input shape, dtype, device and autocast state
compiles once; the INFO log gives how long it took (the first call,
compiling included, synchronized on CUDA), and so do ``compile_seconds`` and
``print()``.
Inductor's FX graph cache (``TORCHINDUCTOR_CACHE_DIR``, by default
``/tmp/torchinductor_<user>``) keeps the generated code, so another process
compiling the same model for the same shape spends only the tracing time.

The wrapped module runs as it is, module by module, when compiling does not
fit: gradients enabled or the module training (freezing is for inference),
a hook on any module inside or a global module hook (the compiled code would
not call them), a tensor on a device other than the CPU and CUDA, CPU bf16
autocast without native bf16, the ``compile`` path disabled
(:mod:`.support`), or a compile that failed, for example without a C++
compiler (logged once).
"""
import time

import torch
import torch.nn as nn

from .mixed_precision import cpu_bf16_autocast
from .support import enabled, hooked, log_once, native_bf16

__all__ = ['COMPILED_DEVICES', 'CompiledInference']

#: devices whose tensors go through the compiled module
COMPILED_DEVICES = ('cpu', 'cuda')


def _autocast_dtype(device_type):
    """The autocast dtype on ``device_type``, or None when autocast is off
    there."""
    if not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


class CompiledInference(nn.Module):
    """``module`` for inference through ``torch.compile`` (inductor, with
    freezing); see :mod:`.compiled`.

    Args:
        module (nn.Module): What to run, typically a backbone after
            ``switch_to_deploy()``.
    """

    def __init__(self, module):
        super().__init__()
        self.module = module
        # Not a submodule: torch.compile's wrapper shares the parameters.
        # fullgraph: a graph break would split the model into many small
        # compiled pieces, slower than none; it fails here instead (and the
        # module runs eagerly, with a warning)
        self.__dict__['_compiled'] = torch.compile(
            module, fullgraph=True, dynamic=False,
            options=dict(freezing=True))
        #: seconds of each key's first call, compiling included
        self.compile_seconds = {}
        self._failure = None

    def forward(self, x):
        if not self._can_compile(x):
            return self.module(x)
        key = (tuple(x.shape), x.dtype, x.device.type,
               _autocast_dtype(x.device.type))
        if key in self.compile_seconds:
            return self._compiled(x)
        start = time.perf_counter()
        try:
            out = self._compiled(x)
            if x.device.type == 'cuda':
                torch.cuda.synchronize(x.device)
        except Exception as err:  # noqa: B902 (inductor raises many kinds)
            self._failure = f'{type(err).__name__}: {err}'.splitlines()[0]
            log_once(('compile-failed', id(self)),
                     f'csn_plugin: torch.compile of '
                     f'{type(self.module).__name__} failed '
                     f'({self._failure}); it runs without compiling.',
                     level='WARNING')
            return self.module(x)
        seconds = self.compile_seconds[key] = time.perf_counter() - start
        autocast = '' if key[3] is None else f' {str(key[3])[6:]} autocast'
        log_once(('compiled', id(self), key),
                 f'csn_plugin: compiled {type(self.module).__name__} with '
                 f'torch.compile (inductor, freezing) for '
                 f"{'x'.join(map(str, key[0]))} {str(x.dtype)[6:]} input on "
                 f'{x.device.type}{autocast} in {seconds:.1f} s')
        return out

    def _can_compile(self, x):
        if self._failure is not None or not enabled('compile'):
            return False
        if (torch.is_grad_enabled() or self.module.training
                or x.device.type not in COMPILED_DEVICES):
            return False
        if (x.device.type == 'cpu' and cpu_bf16_autocast()
                and not native_bf16()):
            return False
        return not hooked(self.module)

    def extra_repr(self):
        state = ('failed: ' + self._failure if self._failure else
                 f'{len(self.compile_seconds)} input(s) compiled in '
                 f'{sum(self.compile_seconds.values()):.1f} s')
        return f'backend=inductor, freezing=True, {state}'
