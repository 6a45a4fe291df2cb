"""The fastest inference route of a deployed backbone on this CPU, chosen by
a one-off measurement.

Which of the plugin's routes is fastest depends on the CPU: on an Intel Xeon
with AMX the deployed modules run eagerly about as fast as, or faster than,
``torch.compile`` of them; on an AMD Zen 4 the compiled code was faster.
No rule from CPU flags told the two apart reliably, so
:class:`FastestRoute` measures, once per input shape, dtype and autocast
state: the deployed module eagerly (one warm-up and ``repeats`` timed calls)
against the same module through :class:`~.compiled.CompiledInference`
(the compile, then ``repeats`` timed calls), keeps the faster and logs one
INFO line with both times. The cost is the compile (inductor's FX graph
cache, ``TORCHINDUCTOR_CACHE_DIR``, makes it short in later processes) and
``2 * repeats + 1`` extra forward passes, once per shape: what ``mim test``
spends on a test set of more than a few clips.

It steps aside where :class:`~.compiled.CompiledInference` does (hooks,
gradients, training, the ``compile`` path disabled, a failed compile): the
deployed module runs eagerly.
"""
import time

import torch.nn as nn

from .compiled import CompiledInference
from .mixed_precision import cpu_bf16_autocast
from .support import log_once

__all__ = ['FastestRoute', 'ROUTES']

#: the routes :class:`FastestRoute` chooses from
ROUTES = ('eager', 'compiled')


def _best_seconds(call, repeats):
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


class FastestRoute(nn.Module):
    """``module`` (a deployed backbone) eagerly or through ``torch.compile``,
    whichever a one-off measurement per input found faster; see
    :mod:`.route`.

    Args:
        module (nn.Module): The deployed backbone.
        repeats (int): Timed calls of each route. Defaults to 2.
    """

    def __init__(self, module, repeats=2):
        super().__init__()
        self.compiled = CompiledInference(module)
        self.repeats = repeats
        self.choice = {}  # input key -> a name of ROUTES

    @property
    def module(self):
        return self.compiled.module

    def forward(self, x):
        if x.device.type != 'cpu':
            return self.compiled(x)
        if not self.compiled._can_compile(x):
            return self.module(x)
        key = (tuple(x.shape), x.dtype, cpu_bf16_autocast())
        if key not in self.choice:
            return self._measure(key, x)
        return (self.compiled if self.choice[key] == 'compiled' else
                self.module)(x)

    def _measure(self, key, x):
        """Time both routes on ``x``; returns the output of the last call."""
        self.module(x)  # warm-up: oneDNN primitives, allocator
        eager = _best_seconds(lambda: self.module(x), self.repeats)
        start = time.perf_counter()
        out = self.compiled(x)  # compiles (or fails, and then runs eagerly)
        compile_s = time.perf_counter() - start
        if self.compiled._failure is not None:
            self.choice[key] = 'eager'
            return out
        compiled = _best_seconds(lambda: self.compiled(x), self.repeats)
        self.choice[key] = 'compiled' if compiled < eager else 'eager'
        log_once(('route', id(self), key),
                 f'csn_plugin: {type(self.module).__name__} on '
                 f"{'x'.join(map(str, key[0]))} "
                 f"{'bf16 autocast' if key[2] else str(x.dtype)[6:]}: "
                 f'eager {eager:.3f} s, torch.compile {compiled:.3f} s '
                 f'(compiled in {compile_s:.0f} s); runs '
                 f'{self.choice[key]}')
        return (self.compiled if self.choice[key] == 'compiled' else
                self.module)(x)

    def extra_repr(self):
        return f'repeats={self.repeats}, chosen={self.choice}'
