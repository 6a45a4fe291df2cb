"""Placeholder for ``mmaction.models.localizers.drn``.

The mmaction2 1.2.0 wheel on PyPI ships without the ``drn`` package
(open-mmlab/mmaction2#2714) although ``mmaction/models/localizers/__init__.py``
imports it, so ``import mmaction.models`` raises ModuleNotFoundError. When the
package is missing we put a small module in its place whose ``DRN`` explains
the problem as soon as somebody builds it.
"""
import importlib.machinery
import importlib.util
import os.path as osp
import sys
import types

DRN_MODULE = 'mmaction.models.localizers.drn'
DRN_UNAVAILABLE = (
    'DRN is not available: the mmaction2 1.2.0 wheel on PyPI ships without '
    'mmaction/models/localizers/drn (open-mmlab/mmaction2#2714). Install '
    'mmaction2 from source to use DRN; csn_plugin only put a placeholder in '
    'its place so that the rest of mmaction.models imports.')


class DRN:
    """Stands in for MMAction2's DRN localizer, missing from the wheel."""

    def __init__(self, *args, **kwargs):
        raise ImportError(DRN_UNAVAILABLE)


def drn_is_missing():
    """True when the installed mmaction has no ``localizers/drn`` package."""
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    root = list(spec.submodule_search_locations)[0]
    return not osp.isdir(osp.join(root, 'models', 'localizers', 'drn'))


def install_drn_placeholder():
    """Register placeholder ``drn`` modules if the wheel lacks them.

    Returns:
        bool: Whether the placeholder was installed (now or earlier).
    """
    if DRN_MODULE in sys.modules:
        return getattr(sys.modules[DRN_MODULE], '__csn_placeholder__', False)
    if not drn_is_missing():
        return False
    package = types.ModuleType(DRN_MODULE)
    package.__path__ = []
    # importlib.util.find_spec raises ValueError on modules without a spec.
    package.__spec__ = importlib.machinery.ModuleSpec(
        DRN_MODULE, None, is_package=True)
    package.__csn_placeholder__ = True
    module = types.ModuleType(DRN_MODULE + '.drn')
    module.__spec__ = importlib.machinery.ModuleSpec(module.__name__, None)
    module.__csn_placeholder__ = True
    # Registered lazily, with the real registry, once mmaction.models imports.
    from mmaction.registry import MODELS
    MODELS.register_module(name='DRN', module=DRN, force=True)
    module.DRN = package.DRN = DRN
    package.drn = module
    sys.modules[DRN_MODULE] = package
    sys.modules[DRN_MODULE + '.drn'] = module
    return True
