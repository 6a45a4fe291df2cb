"""bf16 mixed-precision training on any device, the CPU included."""
from contextlib import contextmanager

from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

from ...models.acceleration import bf16_autocast


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` that runs the forward pass under bf16 autocast.

    mmengine's ``AmpOptimWrapper`` refuses to build without a GPU (or NPU,
    MLU, MUSA). bfloat16 keeps float32's exponent range, so it needs no loss
    scaling, and on CPUs with AVX512-BF16 or AMX its convolutions and matmuls
    run about twice as fast as float32 ones. Parameters, gradients and the
    optimizer state stay float32; only the ops that autocast lists (convs,
    matmuls) compute in bf16. On a CPU without native bf16 it warns once and
    trains in fp32 (:func:`~csn_plugin.models.acceleration.bf16_autocast`):
    oneDNN refuses or emulates bf16 convolutions there.

    Use it in a config as
    ``optim_wrapper = dict(type='BF16OptimWrapper', optimizer=...)``.

    Args:
        device_type (str, optional): Autocast device type, ``'cpu'`` or
            ``'cuda'``. Defaults to None: the device of the model's first
            parameter.
        **kwargs: The arguments of ``OptimWrapper`` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, device_type=None, **kwargs):
        super().__init__(**kwargs)
        if device_type not in (None, 'cpu', 'cuda'):
            raise ValueError(f"device_type must be 'cpu', 'cuda' or None, "
                             f'but got {device_type!r}')
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model):
        """Gradient-accumulation context and bf16 autocast."""
        device_type = self.device_type
        if device_type is None:
            param = next(model.parameters(), None)
            device_type = 'cpu' if param is None else param.device.type
        with super().optim_context(model), bf16_autocast(device_type):
            yield
