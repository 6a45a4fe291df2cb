"""mmengine's distributed training on machines without CUDA.

Two spots in mmengine 0.10.7 assume GPUs, whatever the backend:

* ``mmengine/dist/utils.py`` selects a GPU with
  ``torch.cuda.set_device(local_rank)`` before creating the process group
  (``_init_dist_pytorch``, ``_init_dist_mpi``, ``_init_dist_slurm``). A
  CPU-only PyTorch build has no ``_cuda_setDevice``: AttributeError.
* ``Runner.wrap_model`` builds ``MMDistributedDataParallel`` with
  ``device_ids=[LOCAL_RANK]``, which PyTorch's DDP rejects for a module on the
  CPU (ValueError).

So ``--launcher pytorch`` with the gloo backend cannot start on CPUs. Where
CUDA is unavailable, the set-up functions run with the device selection
skipped; a CPU module is wrapped without ``device_ids``. With CUDA nothing
changes.
"""
import functools
from unittest import mock

import torch

_INIT_FUNCTIONS = ('_init_dist_pytorch', '_init_dist_mpi', '_init_dist_slurm')


def _skip_cuda_device_without_cuda(init_fn):

    @functools.wraps(init_fn)
    def init(*args, **kwargs):
        if torch.cuda.is_available():
            return init_fn(*args, **kwargs)
        with mock.patch.object(torch.cuda, 'set_device', lambda device: None):
            return init_fn(*args, **kwargs)

    init.__csn_patched__ = True
    return init


def _no_device_ids_for_cpu_module(init):

    @functools.wraps(init)
    def __init__(self, module, *args, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu and kwargs.get('device_ids') is not None:
            kwargs['device_ids'] = None
        init(self, module, *args, **kwargs)

    __init__.__csn_patched__ = True
    return __init__


def install_cpu_distributed():
    """Patch mmengine's process-group set-up and its DDP wrapper; safe to
    call more than once.

    Returns:
        list[str]: What was patched now (empty when already done).
    """
    from mmengine.dist import utils
    from mmengine.model import MMDistributedDataParallel
    patched = []
    for name in _INIT_FUNCTIONS:
        init_fn = getattr(utils, name, None)
        if init_fn is None or getattr(init_fn, '__csn_patched__', False):
            continue
        setattr(utils, name, _skip_cuda_device_without_cuda(init_fn))
        patched.append(f'mmengine.dist.utils.{name}')
    ddp_init = MMDistributedDataParallel.__init__
    if not getattr(ddp_init, '__csn_patched__', False):
        MMDistributedDataParallel.__init__ = _no_device_ids_for_cpu_module(
            ddp_init)
        patched.append('MMDistributedDataParallel.__init__')
    return patched
