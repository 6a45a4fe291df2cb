"""csn_plugin: Channel-Separated Convolutional Networks and SEVNet for
MMAction2.

Importing the package (directly or through a config's ``custom_imports``)
fixes the PyPI stack where it needs it and registers the plugin's backbones
into ``mmaction.registry.MODELS``, where its ``ResNet3dCSN`` replaces
MMAction2's built-in class of the same name, and its checked video dataset,
decord transforms, hooks and metrics into ``DATASETS``, ``TRANSFORMS``,
``HOOKS`` and ``METRICS``, ``BF16OptimWrapper`` into mmengine's
``OPTIM_WRAPPERS``, and ``ExportedRecognizer`` (an exported model run by
onnxruntime or OpenVINO, :mod:`csn_plugin.deploy`) into ``MODELS``.
"""
from .compat import patch_stack
from .version import __version__

patch_stack()

from . import models  # noqa: E402,F401  (registers the backbones)
from . import datasets, deploy, engine, evaluation  # noqa: E402,F401

__all__ = [
    '__version__', 'models', 'datasets', 'deploy', 'engine', 'evaluation'
]
