"""MMAction2's VindLU models with transformers 5.

``mmaction/models/multimodal/__init__.py`` imports the VindLU models when
``mmaction.utils.dependency.WITH_MULTIMODAL`` is true, that is whenever
``transformers>=4.28.0`` is installed. Their ``modeling_bert.py`` imports
``apply_chunking_to_forward`` from ``transformers.modeling_utils``, which
transformers 5 removed, so with transformers 5 installed ``import
mmaction.models`` (and with it ``import csn_plugin``) raises ImportError.

Before ``mmaction.models`` is imported, :func:`install_vindlu_guard` turns
``WITH_MULTIMODAL`` off when the installed transformers is 5 or newer:
MMAction2 then registers placeholders for ``VindLUVQA``,
``VindLURetrievalMC`` and ``VindLURetrieval``, as it does without
transformers, and goes on with everything else. The placeholders say why
they are there; one log line says it at import. With transformers 4.x
nothing changes.
"""
import logging
import sys

from mmengine.logging import print_log

__all__ = ['install_vindlu_guard', 'transformers_version']

#: The first transformers release whose API the VindLU models cannot import.
FIRST_INCOMPATIBLE = 5


def transformers_version():
    """The installed transformers version, read from its package metadata
    as MMAction2 reads it (None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version('transformers')
    except PackageNotFoundError:
        return None


def _unavailable_placeholders(found):

    def register(names, registry):
        for name in names:

            def unavailable(*args, _name=name, **kwargs):
                raise ImportError(
                    f'{_name} is not available: MMAction2 1.2.0\'s VindLU '
                    f'models need transformers>=4.28,<5 and transformers '
                    f'{found} is installed (it no longer has '
                    '`transformers.modeling_utils.apply_chunking_to_forward`'
                    '). Install `transformers<5` to use them.')

            registry.register_module(name=name, module=unavailable)

    return register


def install_vindlu_guard():
    """Skip MMAction2's VindLU imports when transformers is 5 or newer.

    Must run before ``mmaction.models`` is imported; afterwards (or with
    transformers 4.x or none) it changes nothing.

    Returns:
        bool: Whether the VindLU models are skipped.
    """
    from mmaction.utils import dependency
    from mmengine.utils import digit_version
    if getattr(dependency, '__csn_vindlu_skipped__', False):
        return True
    found = transformers_version()
    if ('mmaction.models' in sys.modules or not dependency.WITH_MULTIMODAL
            or found is None
            or digit_version(found)[0] < FIRST_INCOMPATIBLE):
        return False
    dependency.WITH_MULTIMODAL = False
    dependency.register_multimodal_placeholder = _unavailable_placeholders(
        found)
    dependency.__csn_vindlu_skipped__ = True
    print_log(
        f'csn_plugin: transformers {found} is installed; MMAction2 1.2.0\'s '
        'VindLU models need transformers<5 and are left out (VindLUVQA, '
        'VindLURetrievalMC, VindLURetrieval); everything else imports.',
        logger='current',
        level=logging.INFO)
    return True
