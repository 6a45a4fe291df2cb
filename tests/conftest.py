"""Shared fixtures. Tests run against the installed csn_plugin."""
import logging
import os
import os.path as osp
import sys

import pytest

# torch.compile runs only where asked for (`mim test csn_plugin --compile`,
# SwitchToDeployHook(compile=True), the benchmarks without --no-compile) and
# costs tens of seconds per model and input shape on 2 cores. As a guard,
# the suite switches compiling off for every test and subprocess (a test
# that asks for it gets the fused eager modules instead); the tests of the
# compiled path itself (test_models/test_acceleration/test_compiled.py, and
# test_flows/test_mim_test.py's `--compile` run) turn it back on with the
# `compile_enabled` fixture. Other paths a caller disables
# (CSN_PLUGIN_DISABLE=fused,bf16 to run the suite as on a CPU without them)
# stay disabled.
_DISABLED = {p for p in os.environ.get('CSN_PLUGIN_DISABLE', '').split(',')
             if p}
os.environ['CSN_PLUGIN_DISABLE'] = ','.join(sorted(_DISABLED | {'compile'}))

# Triton's interpreter for the Triton kernels' tests, which run them on CPU
# tensors (tests/test_models/test_acceleration/test_triton_*.py). Triton reads
# the variable once, when it is first imported, and modules collected before
# those tests import it (torch.compile does), so it is set here, first. No
# test of the suite runs Triton kernels on GPU tensors.
os.environ['TRITON_INTERPRET'] = '1'

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEST_DATA = osp.join(REPO, 'tests', 'data')
BIN = osp.dirname(sys.executable)


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture(scope='session')
def test_data():
    """``tests/data``: real videos and the Kinetics-400 label map, carried
    by the repository (tests/data/README.md names their source)."""
    return TEST_DATA


@pytest.fixture(scope='session')
def venv_bin():
    """The bin folder of the running interpreter (holds ``mim``)."""
    return BIN


@pytest.fixture(autouse=True, scope='session')
def _threads():
    import torch
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))


def _disabled_without(path):
    return ','.join(sorted((_DISABLED | {'compile'}) - {path}))


@pytest.fixture
def compile_enabled(monkeypatch):
    """Undo the suite-wide ``CSN_PLUGIN_DISABLE=compile`` for one test."""
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', _disabled_without('compile'))


@pytest.fixture
def fused_enabled(monkeypatch):
    """For the tests of the fused path itself: undo a caller's
    ``CSN_PLUGIN_DISABLE=fused`` (the run that covers every other test on
    the module-by-module path)."""
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', _disabled_without('fused'))


class _Messages(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def capture_warnings():
    """A function that starts collecting the warnings of mmengine's current
    logger (the latest Runner's, or the default one) and returns the list
    they go into."""
    from mmengine.logging import MMLogger
    attached = []

    def capture():
        handler, logger = _Messages(), MMLogger.get_current_instance()
        logger.addHandler(handler)
        attached.append((logger, handler))
        return handler.messages

    yield capture
    for logger, handler in attached:
        logger.removeHandler(handler)
