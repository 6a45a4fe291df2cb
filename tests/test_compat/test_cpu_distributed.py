"""mmengine starts distributed training on a CPU-only PyTorch once
csn_plugin is imported.

Each check runs in a fresh interpreter (a process group, once made, stays)
with no GPU visible (``CUDA_VISIBLE_DEVICES=''``), so that it takes the CPU
path on a machine with GPUs too.
"""
import os
import socket
import subprocess
import sys
import textwrap

import torch
from mmengine.dist import utils as dist_utils
from mmengine.model import MMDistributedDataParallel

import csn_plugin  # noqa: F401  (applies the fixes)
from csn_plugin.compat.cpu_distributed import install_cpu_distributed

# One process of a 1-process group, started as torchrun would start it.
START = """
import os
os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT='{port}', RANK='0',
                  WORLD_SIZE='1', LOCAL_RANK='0')
import torch
from torch import nn
{plugin}
from mmengine.dist import init_dist, get_world_size
from mmengine.model import MMDistributedDataParallel
init_dist('pytorch', backend='gloo')
print('world size', get_world_size())
model = MMDistributedDataParallel(module=nn.Linear(2, 2), device_ids=[0])
model(torch.ones(1, 2)).sum().backward()
print('ddp ok')
torch.distributed.destroy_process_group()
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_python(code, tmp_path):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          cwd=tmp_path,
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES=''),
                          capture_output=True,
                          text=True,
                          timeout=120)


def test_patches_installed_once():
    assert dist_utils._init_dist_pytorch.__csn_patched__
    assert dist_utils._init_dist_slurm.__csn_patched__
    assert dist_utils._init_dist_mpi.__csn_patched__
    assert MMDistributedDataParallel.__init__.__csn_patched__
    assert install_cpu_distributed() == []


def test_without_cuda_mmengine_needs_the_fix(tmp_path):
    result = run_python(START.format(port=free_port(), plugin=''), tmp_path)
    assert result.returncode != 0
    # mmengine selects a GPU before it makes the gloo group
    assert 'torch.cuda.set_device(' in result.stderr
    if torch.version.cuda is None:  # a CPU-only build of PyTorch
        assert "has no attribute '_cuda_setDevice'" in result.stderr


def test_gloo_group_and_ddp_start_with_the_plugin(tmp_path):
    result = run_python(
        START.format(port=free_port(), plugin='import csn_plugin'), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'world size 1' in result.stdout
    assert 'ddp ok' in result.stdout
