"""Shared pieces of the end-to-end flow tests: a tiny generated dataset, the
commands users type (run as subprocesses against the installed package),
and one small model trained with ``mim train mmaction`` for the tests that
need a checkpoint."""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BIN = osp.dirname(sys.executable)
MIM = osp.join(BIN, 'mim')
#: The quickstart config at 64-pixel input and a quarter of its width.
SMALL_CONFIG = osp.join(REPO, 'tests', 'test_flows', 'configs',
                        'ircsn_r26_8x56_motion_small.py')
#: Shrinks SMALL_CONFIG further for the plumbing tests: one epoch of an
#: eighth-width ir-CSN-26.
TINY_OPTIONS = [
    'model.backbone.base_channels=8', 'model.cls_head.in_channels=256',
    'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1',
    'default_hooks.logger.interval=1'
]


def run(cmd, cwd=None, timeout=300, **env):
    """Run ``cmd``; fail the test with the end of its output unless it
    exits 0. Returns stdout and stderr together."""
    env = dict(os.environ, **env)
    env.setdefault('OMP_NUM_THREADS', '2')
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(map(str, cmd))} exited with '
                    f'{proc.returncode}:\n{proc.stdout[-5000:]}')
    return proc.stdout


def make_dataset(out_dir, *options):
    run([
        sys.executable, '-m', 'csn_plugin.tools.make_dataset', out_dir,
        '--size', '64', '--no-progress', *options
    ])
    return str(out_dir)


def data_options(data_dir):
    """``--cfg-options`` pointing a motion config's loaders at
    ``data_dir``."""
    options = []
    for split in ('train', 'val', 'test'):
        loader = f'{split}_dataloader.dataset'
        options += [
            f'{loader}.ann_file={data_dir}/{split}_list_videos.txt',
            f'{loader}.data_prefix.video={data_dir}/videos_{split}'
        ]
    return options


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
        MIM, 'train', 'mmaction', SMALL_CONFIG, '--gpus', '0', '--work-dir',
        work_dir, '--cfg-options', *tiny_options
    ])
    return work_dir, output
