"""OpenVINO's CPU plugin and the calling thread's alternate signal stack.

``Core.compile_model`` on the CPU plugin (openvino 2026.4) installs an
alternate signal stack (``sigaltstack``) of its own on the calling thread and
puts the one it found back when the compiled model is freed. Freed in any
order but the reverse of compilation, the thread is left with a stack that
has been unmapped. The next signal whose handler runs on the alternate stack
(every handler Python installs: ``SA_ONSTACK``) then kills the process with
SIGSEGV; PyTorch's DataLoader installs such a handler for SIGCHLD, so the
next child process to exit does it::

    a, b = compile(), compile()
    del a, b                                   # not b, a
    signal.signal(signal.SIGCHLD, handler)
    subprocess.run(['true'])                   # Segmentation fault

:func:`install_openvino_signal_stack_fix` wraps ``openvino.Core.compile_model``
so that the thread's own alternate stack is back in place when it returns;
the plugin's later restore then puts back that same stack.
"""
import contextlib
import ctypes
import ctypes.util
import functools
import sys

__all__ = ['kept_signal_stack', 'install_openvino_signal_stack_fix']


class _StackT(ctypes.Structure):
    """``stack_t`` of <signal.h> on Linux."""
    _fields_ = [('ss_sp', ctypes.c_void_p), ('ss_flags', ctypes.c_int),
                ('ss_size', ctypes.c_size_t)]


@functools.lru_cache(maxsize=None)
def _sigaltstack():
    """libc's ``sigaltstack``, or None where there is none to call."""
    if not sys.platform.startswith('linux'):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
    fn = libc.sigaltstack
    fn.argtypes = [ctypes.POINTER(_StackT), ctypes.POINTER(_StackT)]
    fn.restype = ctypes.c_int
    return fn


def current_signal_stack():
    """The calling thread's alternate signal stack as ``(address, size,
    flags)``; None where it cannot be read."""
    sigaltstack = _sigaltstack()
    if sigaltstack is None:
        return None
    stack = _StackT()
    if sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return stack.ss_sp or 0, stack.ss_size, stack.ss_flags


@contextlib.contextmanager
def kept_signal_stack():
    """Put the calling thread's alternate signal stack back as it was on
    entry when the block exits."""
    sigaltstack = _sigaltstack()
    saved = _StackT()
    if sigaltstack is None or sigaltstack(None, ctypes.byref(saved)) != 0:
        yield
        return
    try:
        yield
    finally:
        # SS_ONSTACK is a state, not a request: never pass it back
        saved.ss_flags &= ~1
        if sigaltstack(ctypes.byref(saved), None) != 0:
            raise OSError(ctypes.get_errno(),
                          'could not restore the alternate signal stack '
                          'after openvino compile_model')


def install_openvino_signal_stack_fix(ov):
    """Wrap ``ov.Core.compile_model`` in :func:`kept_signal_stack`; safe to
    call more than once.

    Args:
        ov (module): The imported ``openvino`` module.

    Returns:
        bool: Whether it was patched now (False when already done).
    """
    compile_model = ov.Core.compile_model
    if getattr(compile_model, '__csn_patched__', False):
        return False

    @functools.wraps(compile_model)
    def compile_keeping_signal_stack(self, *args, **kwargs):
        with kept_signal_stack():
            return compile_model(self, *args, **kwargs)

    compile_keeping_signal_stack.__csn_patched__ = True
    ov.Core.compile_model = compile_keeping_signal_stack
    return True
