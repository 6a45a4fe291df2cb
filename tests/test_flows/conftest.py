"""Fixtures of the flow tests: a tiny generated dataset, one small model
trained with ``mim train mmaction`` for the tests that need a checkpoint,
and its ``mim test csn_plugin`` scores."""
import os.path as osp

import pytest
from flow_helpers import MIM, MOTION_CONFIG, TINY_OPTIONS, data_options, \
    make_dataset, mim_test, run


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """4 classes; 3 training, 1 validation and 3 test videos a class."""
    return make_dataset(
        tmp_path_factory.mktemp('tiny') / 'motion', '--train-per-class', '3',
        '--val-per-class', '1', '--test-per-class', '3', '--frames', '20')


@pytest.fixture(scope='session')
def tiny_options(tiny_data):
    return TINY_OPTIONS + data_options(tiny_data)


@pytest.fixture(scope='session')
def mim_trained(tmp_path_factory, tiny_options):
    """``mim train mmaction`` on the tiny dataset: (work_dir, output)."""
    work_dir = tmp_path_factory.mktemp('mim_train')
    output = run([
        MIM, 'train', 'mmaction', MOTION_CONFIG, '--gpus', '0', '--work-dir',
        work_dir, '--cfg-options', *tiny_options
    ])
    return work_dir, output


@pytest.fixture(scope='session')
def checkpoint(mim_trained):
    """The checkpoint of :func:`mim_trained`."""
    work_dir, _ = mim_trained
    return osp.join(work_dir, 'epoch_1.pth')


@pytest.fixture(scope='session')
def trained_config(mim_trained):
    """The config ``mim train`` saved in its work dir: the motion config
    with the tiny options (model width, input size, data paths) merged."""
    work_dir, _ = mim_trained
    return osp.join(work_dir, osp.basename(MOTION_CONFIG))


@pytest.fixture(scope='session')
def prob_run(tmp_path_factory, checkpoint, tiny_options):
    """``mim test csn_plugin --average-clips prob`` of it, with ``--out
    scores.json`` and ``--dump dump.pkl``: (work_dir, output)."""
    work_dir = tmp_path_factory.mktemp('prob')
    output = mim_test('csn_plugin', checkpoint, tiny_options,
                      '--average-clips', 'prob', '--work-dir', work_dir,
                      '--out', work_dir / 'scores.json', '--dump',
                      work_dir / 'dump.pkl')
    return work_dir, output
