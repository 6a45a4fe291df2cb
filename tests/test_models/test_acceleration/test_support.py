"""What the fast paths ask before they act: the switches that force each
fallback, the native-bf16 check, and an AVX2-only CPU as oneDNN sees it."""
import subprocess
import sys
import textwrap

import pytest
from cpu_flags import expect_native_bf16

from csn_plugin.models.acceleration import (PATHS, cpu_summary, disabled,
                                            enabled, native_bf16)


def test_env_switch(monkeypatch):
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', 'fused, bf16')
    assert not enabled('fused') and not enabled('bf16')
    assert enabled('compile')
    assert not native_bf16()
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', 'fused,gpu')
    with pytest.raises(ValueError, match=r"unknown fast path\(s\) \['gpu'\]; "
                       r"choose from \['fused', 'compile', 'bf16', 'triton'\]"):
        enabled('fused')


def test_disabled_nests_and_restores(monkeypatch):
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', '')
    assert all(enabled(p) for p in PATHS)
    with disabled('fused'):
        with disabled('compile', 'bf16', 'triton'):
            assert not any(enabled(p) for p in PATHS)
        assert not enabled('fused') and enabled('compile')
    assert all(enabled(p) for p in PATHS)
    with pytest.raises(ValueError, match='unknown fast path'):
        with disabled('onnx'):
            pass


def test_cpu_summary_names_the_cpu_and_what_it_offers(monkeypatch):
    text = cpu_summary()
    assert ('AVX-512' in text or 'AVX2' in text or 'no AVX2' in text)
    assert 'native bf16' in text
    # the summary tells what the CPU (under oneDNN's ISA cap) offers,
    # whatever CSN_PLUGIN_DISABLE switches off
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', '')
    assert ('no native bf16' in text) == (not expect_native_bf16())


def test_native_bf16_agrees_with_the_cpu_flags():
    """The plugin's own check against /proc/cpuinfo and the switches
    (tests/cpu_flags.py), in this process."""
    assert native_bf16() == expect_native_bf16()
    with disabled('bf16'):
        assert not native_bf16()


AVX2_PROBE = textwrap.dedent('''
    import torch
    import csn_plugin  # noqa: F401
    from csn_plugin.models import ResNet3dCSN
    from csn_plugin.models.acceleration import native_bf16

    x = torch.randn(1, 8, 2, 4, 4).contiguous(
        memory_format=torch.channels_last_3d).bfloat16()
    w = torch.randn(8, 1, 3, 3, 3).bfloat16()
    try:
        torch.ops.mkldnn._convolution_pointwise(
            x, w, None, [1, 1, 1], [1, 1, 1], [1, 1, 1], 8, 'none', [], '')
        print('PRIVATE_OP_RAN')
    except RuntimeError as err:
        print('PRIVATE_OP_REFUSED', 'bf16 path needs' in str(err))
    print('NATIVE_BF16', native_bf16())
    model = ResNet3dCSN(26, base_channels=8).eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        print('EVAL', model(torch.randn(1, 3, 4, 32, 32)).dtype)
    model.switch_to_deploy()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        print('DEPLOYED', model(torch.randn(1, 3, 4, 32, 32)).dtype)
''')


def test_avx2_only_cpu_as_onednn_sees_it():
    """``ONEDNN_MAX_CPU_ISA=AVX2`` makes oneDNN refuse bf16 convolutions as
    on an AVX2-only CPU (AMD Zen 3): the fused bf16 kernel raises there, so
    the plugin's check must say no native bf16, and inference under bf16
    autocast must run (the module path) instead of crashing."""
    env = dict(__import__('os').environ, ONEDNN_MAX_CPU_ISA='AVX2',
               CSN_PLUGIN_DISABLE='compile')
    out = subprocess.run([sys.executable, '-c', AVX2_PROBE], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert 'PRIVATE_OP_REFUSED True' in out.stdout  # the reported crash
    assert 'NATIVE_BF16 False' in out.stdout
    assert 'EVAL torch.bfloat16' in out.stdout
    assert 'DEPLOYED torch.bfloat16' in out.stdout
