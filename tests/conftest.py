"""Shared fixtures. Tests run against the installed csn_plugin."""
import logging
import os
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.join(osp.dirname(REPO), 'shared', 'data')
BIN = osp.dirname(sys.executable)


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture(scope='session')
def shared_data():
    """``../shared/data`` beside the repository (real videos, label map)."""
    if not osp.isdir(SHARED_DATA):
        pytest.fail(f'shared test data not found at {SHARED_DATA}')
    return SHARED_DATA


@pytest.fixture(scope='session')
def venv_bin():
    """The bin folder of the running interpreter (holds ``mim``)."""
    return BIN


@pytest.fixture(autouse=True, scope='session')
def _threads():
    import torch
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))


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
