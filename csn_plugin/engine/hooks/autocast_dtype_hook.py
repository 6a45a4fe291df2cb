"""Pick the dtype of mmengine's ``fp16=True`` validation and test loops on
CUDA."""
import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook

DTYPES = dict(bfloat16=torch.bfloat16, float16=torch.float16)


@HOOKS.register_module()
class AutocastDtypeHook(Hook):
    """Run validation and testing under ``fp16=True`` in ``dtype`` on CUDA.

    mmengine's ``ValLoop`` and ``TestLoop`` with ``fp16=True`` run the model
    under ``mmengine.runner.amp.autocast()``, which takes bfloat16 on CPU and,
    on CUDA, torch's CUDA autocast dtype: float16 unless changed. This hook
    sets that dtype before each validation and test epoch and puts the
    previous one back after it, so that

    .. code-block:: python

        test_cfg = dict(type='TestLoop', fp16=True)
        custom_hooks = [dict(type='AutocastDtypeHook', dtype='bfloat16')]

    tests in bf16 on a GPU as on a CPU. On a GPU without bf16, mmengine's
    autocast raises. Training is not touched: ``BF16OptimWrapper`` trains in
    bf16 on CPU and CUDA, ``AmpOptimWrapper`` takes its own ``dtype``.

    Args:
        dtype (str): ``'bfloat16'`` or ``'float16'``. Defaults to
            ``'bfloat16'``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, dtype='bfloat16'):
        if dtype not in DTYPES:
            raise ValueError(f'AutocastDtypeHook: dtype must be one of '
                             f'{sorted(DTYPES)}, got {dtype!r}')
        self.dtype = DTYPES[dtype]
        self._previous = None

    def _set(self):
        self._previous = torch.get_autocast_dtype('cuda')
        torch.set_autocast_dtype('cuda', self.dtype)

    def _restore(self):
        if self._previous is not None:
            torch.set_autocast_dtype('cuda', self._previous)
            self._previous = None

    def before_val_epoch(self, runner):
        self._set()

    def after_val_epoch(self, runner, metrics=None):
        self._restore()

    def before_test_epoch(self, runner):
        self._set()

    def after_test_epoch(self, runner, metrics=None):
        self._restore()
