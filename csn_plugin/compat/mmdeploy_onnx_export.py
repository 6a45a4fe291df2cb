"""mmdeploy 1.3.1's ONNX export under torch >= 2.9.

Two problems, both in mmdeploy's ``RewriterContext``, the context in which
``mmdeploy.apis.onnx.export`` (what ``torch2onnx`` and ``tools/deploy.py``
run) calls ``torch.onnx.export``:

- **The exporter.** Since torch 2.9 ``torch.onnx.export`` defaults to
  ``dynamo=True``, the ``torch.export``-based exporter. mmdeploy calls it
  without ``dynamo``, so on torch 2.13 it gets that exporter: without
  ``onnxscript`` the export fails with ``ModuleNotFoundError: No module named
  'onnxscript'``; with it, the exporter cannot convert its graph to the
  deploy config's opset (11): it logs the failure and writes opset 18,
  weights in a separate ``.onnx.data`` file.
  mmdeploy's rewriters (its symbolic functions, its passes on the traced
  graph) are written for the TorchScript-based exporter, which torch 2.13
  still ships (``dynamo=False``). mmdeploy 1.3.1 is its latest release and
  predates torch 2.9.
- **The crash after it.** ``FunctionRewriter.exit`` (mmdeploy
  ``core/rewriters/function_rewriter.py``) undoes the ``torch.fx.wrap``
  registrations made inside the context with ``list.pop(-1)`` on
  ``torch.fx._symbolic_trace._wrapped_fns_to_patch``, which torch 2.x made
  a dict keyed by ``(id(globals), name)``. When anything registers one
  inside the context (the dynamo exporter's modules do, as they are first
  imported), leaving it raises ``KeyError: -1`` before mmdeploy's
  function rewrites are undone: with onnxscript installed, every export
  ends so.

:func:`install_mmdeploy_onnx_export` patches ``RewriterContext`` so that,
inside it, ``torch.onnx.export`` defaults to ``dynamo=False`` (a caller's
explicit ``dynamo`` stays), and ``FunctionRewriter`` removes the
``torch.fx.wrap`` entries added in the context by their keys. Outside the
context ``torch.onnx.export`` is torch's own.
"""
import contextlib
import functools
import importlib
import importlib.util
import warnings

__all__ = [
    'mmdeploy_installed', 'import_mmdeploy', 'torchscript_onnx_export',
    'install_mmdeploy_onnx_export'
]


def mmdeploy_installed():
    """Whether mmdeploy is installed (found without importing it)."""
    try:
        return importlib.util.find_spec('mmdeploy') is not None
    except (ImportError, ValueError):  # e.g. sys.modules['mmdeploy'] = None
        return False


def import_mmdeploy(module):
    """``import_module(module)`` of mmdeploy; None without mmdeploy, and
    None with a warning that names the error where the installed mmdeploy
    cannot be imported (the plugin then works without its mmdeploy fixes)."""
    if not mmdeploy_installed():
        return None
    try:
        return importlib.import_module(module)
    except Exception as error:  # a broken mmdeploy must not break the plugin
        warnings.warn(f'mmdeploy is installed, but {module} cannot be '
                      f'imported ({type(error).__name__}: {error}); '
                      f'csn_plugin does not apply its mmdeploy fixes')
        return None


@contextlib.contextmanager
def torchscript_onnx_export():
    """Within the block, ``torch.onnx.export`` called without ``dynamo``
    uses the TorchScript-based exporter (``dynamo=False``)."""
    import torch.onnx
    export = torch.onnx.export

    @functools.wraps(export)
    def torchscript_export(*args, **kwargs):
        kwargs.setdefault('dynamo', False)
        return export(*args, **kwargs)

    torch.onnx.export = torchscript_export
    try:
        yield
    finally:
        torch.onnx.export = export


def _with_torchscript_export(rewriter_context_cls):
    enter, exit_ = (rewriter_context_cls.__enter__,
                    rewriter_context_cls.__exit__)

    @functools.wraps(enter)
    def __enter__(self):
        self._csn_exporter = torchscript_onnx_export()
        self._csn_exporter.__enter__()
        try:
            return enter(self)
        except BaseException:
            self._csn_exporter.__exit__(None, None, None)
            raise

    @functools.wraps(exit_)
    def __exit__(self, *exc_info):
        try:
            return exit_(self, *exc_info)
        finally:
            self._csn_exporter.__exit__(None, None, None)

    __enter__.__csn_patched__ = __exit__.__csn_patched__ = True
    return __enter__, __exit__


def _with_fx_wrap_keys(function_rewriter_cls):
    """``enter``/``exit`` of ``FunctionRewriter`` that undo the
    ``torch.fx.wrap`` entries of the context by key, not by position."""
    from torch.fx import _symbolic_trace
    enter, exit_ = function_rewriter_cls.enter, function_rewriter_cls.exit

    @functools.wraps(enter)
    def wrapped_enter(self, *args, **kwargs):
        self._csn_fx_keys = set(_symbolic_trace._wrapped_fns_to_patch)
        return enter(self, *args, **kwargs)

    @functools.wraps(exit_)
    def wrapped_exit(self):
        wrapped = _symbolic_trace._wrapped_fns_to_patch
        for key in set(wrapped) - self._csn_fx_keys:
            del wrapped[key]
        # mmdeploy pops len(now) - len(at enter) entries: none are left
        self._ori_fx_wrap_num = len(wrapped)
        return exit_(self)

    wrapped_enter.__csn_patched__ = wrapped_exit.__csn_patched__ = True
    return wrapped_enter, wrapped_exit


def install_mmdeploy_onnx_export():
    """Patch mmdeploy's ``RewriterContext`` (the exporter) and, where torch
    keeps ``torch.fx.wrap`` entries in a dict, its ``FunctionRewriter``; does
    nothing without mmdeploy. Safe to call more than once.

    Returns:
        bool: Whether it was patched now.
    """
    manager = import_mmdeploy('mmdeploy.core.rewriters.rewriter_manager')
    if manager is None:
        return False
    from mmdeploy.core.rewriters.function_rewriter import FunctionRewriter
    from torch.fx import _symbolic_trace
    context = manager.RewriterContext
    if getattr(context.__enter__, '__csn_patched__', False):
        return False
    context.__enter__, context.__exit__ = _with_torchscript_export(context)
    if isinstance(_symbolic_trace._wrapped_fns_to_patch, dict):
        FunctionRewriter.enter, FunctionRewriter.exit = _with_fx_wrap_keys(
            FunctionRewriter)
    return True
