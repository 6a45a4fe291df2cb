"""What this CPU and this PyTorch build can run fast, and switches that force
the fallbacks.

The fast paths ask here before they act: oneDNN's fused kernels
(:mod:`.cpu_kernels`), ``torch.compile`` (:mod:`.compiled`) and native
bf16 (:mod:`.mixed_precision`). Each check runs once per process; each path
logs one INFO line naming what it took, the first time it decides.

Forcing the fallbacks, so that any machine runs every path:

- the environment variable ``CSN_PLUGIN_DISABLE``, a comma-separated list of
  :data:`PATHS` (``CSN_PLUGIN_DISABLE=fused,bf16``); subprocesses such as
  ``mim train`` inherit it;
- in a process, ``with disabled('fused'): ...``.

``bf16`` disabled means: behave as on a CPU without native bf16.
``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN's own switch) goes further and makes
oneDNN itself run as on an AVX2-only CPU; the bf16 check follows it too.
"""
import contextlib
import functools
import os
import platform

import torch
from mmengine.logging import print_log

__all__ = [
    'DISABLE', 'PATHS', 'PathSwitch', 'cpu_summary', 'disabled',
    'disabled_paths', 'enabled', 'hooked', 'log_once', 'native_bf16',
    'tracing'
]

#: The fast paths that can be switched off.
PATHS = ('fused', 'compile', 'bf16', 'triton')
ENV_VAR = 'CSN_PLUGIN_DISABLE'
#: CPU flags of native bf16 arithmetic (what oneDNN's bf16 kernels need to
#: be faster than fp32 rather than emulated or refused).
NATIVE_BF16_FLAGS = ('avx512_bf16', 'amx_bf16', 'avx_ne_convert')

#: Per-module and global hook registries of ``torch.nn.Module`` (PyTorch has
#: no public query for them).
MODULE_HOOKS = ('_forward_hooks', '_forward_pre_hooks', '_backward_hooks',
                '_backward_pre_hooks')
GLOBAL_HOOKS = ('_global_forward_hooks', '_global_forward_pre_hooks',
                '_global_backward_hooks', '_global_backward_pre_hooks')

_logged = set()


class PathSwitch:
    """A set of path names from an environment variable (comma-separated)
    and from ``with`` blocks: :data:`DISABLE` switches fast paths off,
    ``depthwise_route.FORCE`` forces them.

    Args:
        env_var (str): The environment variable read at every query (so
            subprocesses inherit it and tests can set it).
        choices (tuple[str]): The names it accepts; others raise.
        what (str): What the names are, for the error message.
    """

    def __init__(self, env_var, choices, what):
        self.env_var = env_var
        self.choices = tuple(choices)
        self.what = what
        self._here = []  # sets pushed by scope()

    def check(self, paths, where):
        unknown = set(paths) - set(self.choices)
        if unknown:
            raise ValueError(f'{where}: unknown {self.what} '
                             f'{sorted(unknown)}; choose from '
                             f'{list(self.choices)}')

    def paths(self):
        """The names set by the environment variable or a ``with`` block."""
        value = os.environ.get(self.env_var, '')
        paths = {p.strip() for p in value.split(',') if p.strip()}
        self.check(paths, f'{self.env_var}={value!r}')
        for more in self._here:
            paths |= more
        return paths

    @contextlib.contextmanager
    def scope(self, *paths, where='with'):
        """Add ``paths`` inside the ``with`` block."""
        self.check(paths, where)
        self._here.append(set(paths))
        try:
            yield
        finally:
            self._here.pop()


#: The switch of ``CSN_PLUGIN_DISABLE`` and :func:`disabled`.
DISABLE = PathSwitch(ENV_VAR, PATHS, 'fast path(s)')


def disabled_paths():
    """The fast paths switched off by ``CSN_PLUGIN_DISABLE`` or
    :func:`disabled`."""
    return DISABLE.paths()


def enabled(path):
    """Whether the fast path ``path`` (one of :data:`PATHS`) may run."""
    DISABLE.check([path], 'enabled()')
    return path not in disabled_paths()


def disabled(*paths):
    """Switch the given fast paths off inside the ``with`` block."""
    return DISABLE.scope(*paths, where='disabled()')


def log_once(key, message, level='INFO'):
    """Log ``message`` through mmengine the first time ``key`` is seen."""
    if key in _logged:
        return
    _logged.add(key)
    print_log(message, logger='current', level=getattr(
        __import__('logging'), level))


def _capabilities():
    get = getattr(torch.cpu, 'get_capabilities', None)  # torch >= 2.8
    if get is not None:
        return dict(get())
    flags = set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    break
    except OSError:
        pass
    return {flag: True for flag in flags}


@functools.lru_cache()
def _cpu_has_native_bf16():
    caps = _capabilities()
    if not any(caps.get(flag) for flag in NATIVE_BF16_FLAGS):
        return False
    # oneDNN's own check; it follows ONEDNN_MAX_CPU_ISA.
    return (not torch.backends.mkldnn.is_available()
            or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()))


def native_bf16():
    """Whether this CPU computes bf16 natively (AVX512-BF16, AMX or
    AVX-NE-CONVERT, and oneDNN agrees) and ``bf16`` is not disabled."""
    return enabled('bf16') and _cpu_has_native_bf16()


def _cpuinfo_fields(names=('model name', 'cpu family', 'model')):
    """The first value of each of ``names`` in /proc/cpuinfo (Linux)."""
    fields = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                key = key.strip()
                if key in names and key not in fields:
                    fields[key] = value.strip()
    except OSError:
        pass
    return fields


@functools.lru_cache()
def cpu_summary():
    """The CPU model and what it offers the fast paths, for logs and
    benchmark tables: ``'AMD EPYC 7B13, family 25 model 1 (x86_64; AVX2,
    no AVX-512, no native bf16)'``. Family and model tell CPU generations
    apart where a hypervisor shortens the name (AMD: family 25 is Zen 3 and
    Zen 4, 26 is Zen 5)."""
    fields = _cpuinfo_fields()
    name = fields.get('model name') or platform.processor() or \
        platform.machine()
    if 'cpu family' in fields:
        name += f", family {fields['cpu family']} model {fields.get('model')}"
    caps = _capabilities()
    if caps.get('avx512f') or caps.get('avx512_f'):
        isa = 'AVX-512'
    elif caps.get('avx2'):
        isa = 'AVX2, no AVX-512'
    else:
        isa = 'no AVX2'
    amx = ', AMX' if caps.get('amx_tile') or caps.get('amx_bf16') else ''
    bf16 = 'native bf16' if _cpu_has_native_bf16() else 'no native bf16'
    return f'{name} ({platform.machine()}; {isa}{amx}, {bf16})'


def tracing():
    """Whether a tracer records this call (TorchScript and ONNX export,
    ``torch.compile``, FX): it must see the modules, not private ops."""
    # torch.compile first: dynamo answers it without tracing the others
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch.onnx.is_in_onnx_export()
            or torch.fx._symbolic_trace.is_fx_symbolic_tracing())


def hooked(module):
    """Whether a hook could observe what ``module`` computes inside: a
    forward or backward hook on it or on any module in it, or a global
    module hook (``torch.nn.modules.module.register_module_forward_hook``
    and the like)."""
    from torch.nn.modules import module as torch_module
    if any(getattr(torch_module, name) for name in GLOBAL_HOOKS):
        return True
    return any(
        getattr(m, name) for m in module.modules() for name in MODULE_HOOKS)
