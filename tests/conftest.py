"""Shared fixtures. Tests run against the installed csn_plugin."""
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
