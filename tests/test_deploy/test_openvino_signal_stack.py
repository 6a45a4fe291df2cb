"""OpenVINO sessions leave the thread's alternate signal stack as it was
(csn_plugin/compat/openvino_signal_stack.py)."""
import subprocess
import sys
import textwrap

import pytest

from csn_plugin.compat.openvino_signal_stack import (
    current_signal_stack, install_openvino_signal_stack_fix)
from csn_plugin.deploy.backends import OpenVINOSession, import_engine

linux_only = pytest.mark.skipif(
    not sys.platform.startswith('linux'),
    reason='sigaltstack is read through Linux libc')


def test_installed_once():
    ov = import_engine('openvino')
    assert ov.Core.compile_model.__csn_patched__
    assert not install_openvino_signal_stack_fix(ov)


@linux_only
def test_sessions_keep_the_signal_stack(tiny_exports):
    onnx_file, xml_file, _ = tiny_exports
    before = current_signal_stack()
    first = OpenVINOSession(onnx_file)
    second = OpenVINOSession(xml_file)
    assert current_signal_stack() == before
    del first
    assert current_signal_stack() == before
    del second
    assert current_signal_stack() == before


@linux_only
def test_child_exit_after_sessions_freed_out_of_order(tiny_exports):
    """Without the fix this process dies of SIGSEGV in subprocess.run: the
    SIGCHLD handler (Python's, as PyTorch's DataLoader installs) is entered
    on an alternate stack OpenVINO has unmapped."""
    script = textwrap.dedent(f"""
        import gc, signal, subprocess
        from csn_plugin.deploy.backends import OpenVINOSession
        first = OpenVINOSession({tiny_exports[0]!r})
        second = OpenVINOSession({tiny_exports[1]!r})
        del first
        gc.collect()
        del second
        gc.collect()
        signal.signal(signal.SIGCHLD, lambda *_: None)
        subprocess.run(['true'], check=True)
        print('child reaped')
    """)
    done = subprocess.run([sys.executable, '-c', script],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith('child reaped')
