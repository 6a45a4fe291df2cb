"""What this CPU offers, read apart from the code under test.

Tests take their bf16 expectations from here, from /proc/cpuinfo and the
switches that cap oneDNN or the plugin, never from the plugin's own
``native_bf16()``: a bug that switched bf16 off everywhere must fail them.
"""
import os

#: CPU flags of native bf16 arithmetic (AVX512-BF16, AMX, AVX-NE-CONVERT).
NATIVE_BF16_FLAGS = frozenset({'avx512_bf16', 'amx_bf16', 'avx_ne_convert'})
#: ONEDNN_MAX_CPU_ISA values below oneDNN's first bf16 ISA.
ONEDNN_ISAS_WITHOUT_BF16 = frozenset({
    'SSE41', 'AVX', 'AVX2', 'AVX2_VNNI', 'AVX512_CORE', 'AVX512_CORE_VNNI'
})


def cpu_flags():
    """The flags of the first CPU in /proc/cpuinfo (empty off Linux)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    return frozenset()


def expect_native_bf16():
    """Whether bf16 should run natively in this process: the CPU has a
    native bf16 flag, ``ONEDNN_MAX_CPU_ISA`` does not cap oneDNN below it,
    and ``CSN_PLUGIN_DISABLE`` does not name ``bf16``."""
    disabled = os.environ.get('CSN_PLUGIN_DISABLE', '').split(',')
    if 'bf16' in (p.strip() for p in disabled):
        return False
    isa = os.environ.get('ONEDNN_MAX_CPU_ISA', '').strip().upper()
    if isa in ONEDNN_ISAS_WITHOUT_BF16:
        return False
    return bool(cpu_flags() & NATIVE_BF16_FLAGS)
