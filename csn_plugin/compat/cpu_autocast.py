"""mmengine's ``fp16=True`` validation and test loops on CPUs without native
bf16.

With ``val_cfg``/``test_cfg`` ``fp16=True`` mmengine runs the model under
``mmengine.runner.amp.autocast()``, which on the CPU is bf16 autocast. On a
CPU without native bf16 (an AVX2-only one such as AMD Zen 3) oneDNN refuses
some bf16 convolutions (``mkldnn_convolution: bf16 path needs the cpu support
avx_ne_convert or avx512bw, avx512vl and avx512dq``) and emulates others,
slower than fp32. There the patched ``autocast`` warns once and runs fp32
(:func:`csn_plugin.models.acceleration.cpu_bf16_or_warn`); everywhere else,
and on GPUs, it is mmengine's own.
"""
import contextlib
import functools

__all__ = ['install_cpu_autocast']


def _fp32_without_native_bf16(autocast):

    @contextlib.contextmanager
    @functools.wraps(autocast)
    def fallback_autocast(device_type=None, dtype=None, enabled=True,
                          cache_enabled=None):
        from mmengine.device import get_device

        # imported here: compat is installed before csn_plugin.models
        from ..models.acceleration import cpu_bf16_or_warn
        on_cpu = (device_type or get_device()) == 'cpu'
        if enabled and on_cpu and not cpu_bf16_or_warn():
            yield
            return
        with autocast(device_type, dtype, enabled, cache_enabled):
            yield

    fallback_autocast.__csn_patched__ = True
    return fallback_autocast


def install_cpu_autocast():
    """Patch ``mmengine.runner.amp.autocast`` and the names it is imported
    under (``mmengine.runner``, the loops); safe to call more than once.

    Returns:
        bool: Whether it was patched now (False when already done).
    """
    import mmengine.runner
    from mmengine.runner import amp, loops
    if getattr(amp.autocast, '__csn_patched__', False):
        return False
    amp.autocast = _fp32_without_native_bf16(amp.autocast)
    loops.autocast = mmengine.runner.autocast = amp.autocast
    return True
