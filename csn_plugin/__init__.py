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
mmengine's Runner is taught to hand its model's class count to the datasets
it builds (:mod:`csn_plugin.datasets.model_classes`).
"""
from .compat import patch_stack
from .compat.quiet_warnings import ignoring_known_warnings
from .version import __version__

# The stack's known harmless import warnings (mmcv-lite's missing ops) are
# not shown; see compat/quiet_warnings.py.
with ignoring_known_warnings():
    patch_stack()
    from . import models  # noqa: F401  (registers the backbones)
    from . import datasets, deploy, engine, evaluation  # noqa: F401

datasets.install_model_classes()

__all__ = [
    '__version__', 'models', 'datasets', 'deploy', 'engine', 'evaluation'
]
