"""What the end-to-end flow tests share: the commands users type, run as
subprocesses against the installed package, and the configs they use."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BIN = osp.dirname(sys.executable)
MIM = osp.join(BIN, 'mim')
#: The quickstart config, as users run it.
MOTION_CONFIG = osp.join(REPO, 'configs', 'ircsn_r26_8x112_motion.py')
#: It on 56x56 crops of 64-pixel videos: a quarter of the compute. Each
#: pipeline is Init, SampleFrames, Decode, Resize, a crop, ...
SMALL_INPUT = [
    'train_dataloader.dataset.pipeline.3.scale=(-1,64)',
    'train_dataloader.dataset.pipeline.4.size=56',
] + [
    f'{split}_dataloader.dataset.pipeline.{i}.{key}={value}'
    for split in ('val', 'test')
    for i, key, value in ((3, 'scale', '(-1,64)'), (4, 'crop_size', 56))
]
#: Smaller still for the tests of the plumbing: one epoch of an eighth-width
#: ir-CSN-26.
TINY_OPTIONS = SMALL_INPUT + [
    'model.backbone.base_channels=8', 'model.cls_head.in_channels=256',
    'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1',
    'default_hooks.logger.interval=1'
]


#: test videos of the tiny dataset: 4 classes x 3
TEST_VIDEOS = 12


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


def mim_test(package, checkpoint, tiny_options, *options):
    """``mim test <package>`` of the motion config on the tiny dataset."""
    return run([
        MIM, 'test', package, MOTION_CONFIG, '-C', checkpoint, *options,
        '--cfg-options', *tiny_options
    ])


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


def free_port():
    """A TCP port nobody listens on now, for a process group's rendezvous
    (other test runs may share the machine)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])
