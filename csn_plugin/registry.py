"""MMAction2's ``MODELS`` registry, with the built-in models registered.

MMAction2 imports ``mmaction.models`` lazily, the first time a model is built.
Were the plugin to register ``ResNet3dCSN`` before that, the lazy import would
fail with "already registered". So the built-ins are imported here first, and
the plugin's classes then replace them by name with ``force=True``. Python
caches the import, so the later lazy import registers nothing again.
"""
import mmaction.models  # noqa: F401  (registers MMAction2's built-ins first)
from mmaction.registry import MODELS
from mmengine.logging import print_log

__all__ = ['MODELS', 'replace_builtin']


def replace_builtin(cls):
    """Register ``cls`` into ``MODELS`` in place of the same-named built-in.

    Logs once, at INFO, which built-in class it replaces.
    """
    name = cls.__name__
    builtin = MODELS.module_dict.get(name)
    MODELS.register_module(module=cls, force=True)
    if builtin is not None and builtin is not cls:
        print_log(
            f'csn_plugin: {cls.__module__}.{name} replaces MMAction2\'s '
            f'built-in {builtin.__module__}.{name} in the MODELS registry.',
            logger='current')
    return cls
