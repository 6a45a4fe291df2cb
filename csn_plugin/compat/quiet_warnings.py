"""Warnings of the PyPI stack that are harmless and that a user cannot act
on, named in this one place.

Where they are filtered:

- ``import csn_plugin`` imports the stack inside
  :func:`ignoring_known_warnings`, which restores the warning filters after;
- the plugin's tools (``csn_plugin.tools``) call
  :func:`filter_known_warnings` for the rest of their process;
- the scripts (``scripts/quickstart.sh``) export
  ``PYTHONWARNINGS="$(python csn_plugin/compat/quiet_warnings.py)"``, which
  reaches ``mim`` and every tool process it starts, MMAction2's included.

This file imports only the standard library, so the scripts run it as a
plain file, without importing the stack.
"""
import builtins
import contextlib
import re
import warnings
from collections import namedtuple

__all__ = [
    'KNOWN_HARMLESS', 'filter_known_warnings', 'ignoring_known_warnings',
    'pythonwarnings'
]

#: ``message`` is the start of the warning's text (no comma or colon: it
#: goes into a ``PYTHONWARNINGS`` entry), ``category`` a built-in warning
#: class name, ``why`` the reason it is harmless.
HarmlessWarning = namedtuple('HarmlessWarning', 'message category why')

KNOWN_HARMLESS = (
    HarmlessWarning(
        'pkg_resources is deprecated as an API', 'UserWarning',
        'openmim 0.3.9 imports pkg_resources (four times a `mim` call); '
        'setup.py pins setuptools<81, which still has it'),
    HarmlessWarning(
        'Fail to import ``MultiScaleDeformableAttention``', 'UserWarning',
        'mmcv-lite has no compiled ops; MMAction2 imports the transformer '
        'bricks that would use them, and no CSN or SEVNet model does'),
)


def filter_known_warnings():
    """Ignore the warnings of :data:`KNOWN_HARMLESS` in this process."""
    for item in KNOWN_HARMLESS:
        warnings.filterwarnings(
            'ignore',
            message=re.escape(item.message),
            category=getattr(builtins, item.category))


@contextlib.contextmanager
def ignoring_known_warnings():
    """Ignore the warnings of :data:`KNOWN_HARMLESS` inside the ``with``
    block only."""
    with warnings.catch_warnings():
        filter_known_warnings()
        yield


def pythonwarnings():
    """The :data:`KNOWN_HARMLESS` filters as a ``PYTHONWARNINGS`` value."""
    return ','.join(f'ignore:{item.message}:{item.category}'
                    for item in KNOWN_HARMLESS)


if __name__ == '__main__':
    print(pythonwarnings())
