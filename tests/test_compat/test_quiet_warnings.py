"""csn_plugin.compat.quiet_warnings: the known harmless warnings are
ignored as PYTHONWARNINGS entries, in a scoped block and for a whole tool
process, and their texts are those of the installed stack."""
import builtins
import os.path as osp
import subprocess
import sys
import warnings

import mmcv
import pkg_resources

from csn_plugin.compat import quiet_warnings as qw

SOURCES = {
    'pkg_resources': osp.join(osp.dirname(pkg_resources.__file__),
                              '__init__.py'),
    'MultiScaleDeformableAttention': osp.join(
        osp.dirname(mmcv.__file__), 'cnn', 'bricks', 'transformer.py'),
}


def warn_all():
    """Each known warning, as its package words it, and another one."""
    for item in qw.KNOWN_HARMLESS:
        warnings.warn(item.message + ', and more text.',
                      getattr(builtins, item.category))
    warnings.warn('an unrelated warning', UserWarning)


def shown(filtering):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        filtering()
        warn_all()
    return [str(w.message) for w in caught]


def test_messages_are_the_stacks():
    assert len(qw.KNOWN_HARMLESS) == len(SOURCES)
    for item, source in zip(qw.KNOWN_HARMLESS, SOURCES.values()):
        assert item.message.replace('``', '') in open(source).read().replace(
            '``', ''), (item.message, source)
        assert ',' not in item.message and ':' not in item.message


def test_filter_known_warnings():
    assert shown(lambda: None)[:-1] == [
        item.message + ', and more text.' for item in qw.KNOWN_HARMLESS
    ]
    assert shown(qw.filter_known_warnings) == ['an unrelated warning']


def test_pythonwarnings_entries():
    entries = qw.pythonwarnings().split(',')
    assert len(entries) == len(qw.KNOWN_HARMLESS)
    # what Python does with each PYTHONWARNINGS entry
    assert shown(lambda: [warnings._setoption(e) for e in entries]) == [
        'an unrelated warning'
    ]


def test_scoped_block_restores_the_filters():
    before = list(warnings.filters)
    with qw.ignoring_known_warnings():
        assert len(warnings.filters) == len(before) + len(qw.KNOWN_HARMLESS)
    assert warnings.filters == before


def test_runs_as_a_plain_file():
    """What scripts/quickstart.sh runs: no import of the stack."""
    result = subprocess.run([sys.executable, '-S', '-I', qw.__file__],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == qw.pythonwarnings()
