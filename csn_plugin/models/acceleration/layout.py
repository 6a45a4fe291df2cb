"""The memory format a backbone computes in, chosen for its device.

A conv whose *weight* is in a memory format gives its output that format
too. So the format is set on the weights, and ``forward`` converts nothing:
it exports to ONNX, and hooks see the values of the contiguous computation
(in another order of summation, within float rounding). Checkpoints hold the
same values either way.

Which format is fastest depends on the device:

- CPU: ``channels_last_3d`` (NTHWC). oneDNN's convolutions, the depthwise
  3x3x3 ones of CSN above all, are fastest on it.
- CUDA (and any other device): ``contiguous`` (NCTHW). cuDNN's depthwise
  3x3x3 convolution is several times slower on channels-last tensors, which
  outweighs what the 1x1x1 convs gain there.

The plugin's backbones take ``memory_format='auto'`` by default
(:class:`DeviceAwareLayout`): the format of :func:`auto_memory_format` for
the device of their parameters, chosen when they are built (also under a
``torch.device`` default device) and again whenever they move
(``model.to(device)``, ``.cuda()``, mmengine's runner). Each decision is
logged (once a process for each backbone class, format and device) and
shown in ``print(model)``. ``'channels_last_3d'`` or
``'contiguous'`` in the config fixes the format on every device.
"""
import torch

from .support import log_once

__all__ = [
    'AUTO', 'DeviceAwareLayout', 'MEMORY_FORMATS', 'auto_memory_format',
    'in_format', 'resolve_memory_format', 'set_memory_format'
]

#: config name -> torch memory format
MEMORY_FORMATS = {
    'channels_last_3d': torch.channels_last_3d,
    'contiguous': torch.contiguous_format,
}
#: the config value that picks the format from the device
AUTO = 'auto'


def auto_memory_format(device):
    """The fastest memory format on ``device``: ``'channels_last_3d'`` on
    the CPU, ``'contiguous'`` elsewhere (see :mod:`.layout`).

    Args:
        device (torch.device | str): Where the weights are.
    """
    return 'channels_last_3d' if torch.device(device).type == 'cpu' \
        else 'contiguous'


def _check(memory_format):
    if memory_format != AUTO and memory_format not in MEMORY_FORMATS:
        raise ValueError(f'memory_format must be one of '
                         f'{[AUTO] + sorted(MEMORY_FORMATS)}, but got '
                         f'{memory_format!r}')


def resolve_memory_format(memory_format, device):
    """The key of :data:`MEMORY_FORMATS` that ``memory_format`` (``'auto'``
    or such a key) means on ``device``."""
    _check(memory_format)
    if memory_format == AUTO:
        return auto_memory_format(device)
    return memory_format


def _device_of(module):
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device('cpu')


def in_format(tensor, memory_format):
    """``tensor`` with the strides of ``memory_format`` (a torch memory
    format), a copy where they differ.

    Unlike ``Tensor.contiguous(memory_format=...)`` this also restrides
    dimensions of size 1: a 1x1x1 conv weight ``(O, I, 1, 1, 1)`` or a
    depthwise one ``(O, 1, 3, 3, 3)`` counts as contiguous in both formats,
    so ``contiguous()`` keeps its strides, but ``torch.compile`` (inductor's
    oneDNN convolutions) reads the layout from the strides: measured on an
    Intel Xeon (family 6 model 167, 2 threads), a compiled ir-CSN-50 ran
    about 25 % slower with such weights left in contiguous strides.
    """
    if tensor.dim() != 5:
        return tensor
    want = torch.empty_like(tensor, memory_format=memory_format)
    if want.stride() == tensor.stride():
        return tensor
    return want.copy_(tensor)


def set_memory_format(module, memory_format):
    """Store the 5-D weights of ``module`` in ``memory_format`` (a key of
    :data:`MEMORY_FORMATS`, or ``'auto'``: the one for the device of
    ``module``'s parameters), in place.

    Returns:
        nn.Module: ``module``.
    """
    name = resolve_memory_format(memory_format, _device_of(module))
    target = MEMORY_FORMATS[name]
    return module._apply(lambda t: in_format(t, target))


class DeviceAwareLayout:
    """Mixin of the plugin's backbones: their conv weights in
    ``memory_format``, with ``'auto'`` resolved for the parameters' device
    when built and whenever they move (see :mod:`.layout`).

    Call :meth:`init_memory_format` at the end of ``__init__``.
    ``memory_format`` holds the config value, ``active_memory_format`` the
    format the weights were put in.
    """

    memory_format = AUTO
    active_memory_format = None

    def init_memory_format(self, memory_format):
        """Check ``memory_format`` (``'auto'``, ``'channels_last_3d'`` or
        ``'contiguous'``) and put the weights in it."""
        _check(memory_format)
        self.memory_format = memory_format
        self.active_memory_format = None
        self._follow_device()

    def _apply(self, fn, *args, **kwargs):
        # every move and cast (to, cuda, cpu, half, to_empty) ends here
        super()._apply(fn, *args, **kwargs)
        if self.active_memory_format is not None:  # built already
            self._follow_device()
        return self

    def _follow_device(self):
        device = _device_of(self)
        wanted = resolve_memory_format(self.memory_format, device)
        if wanted == self.active_memory_format:
            return  # moves keep the layout (preserve_format)
        target = MEMORY_FORMATS[wanted]
        # nn.Module._apply directly: ``self.to()`` would come back here
        super()._apply(lambda t: in_format(t, target))
        self.active_memory_format = wanted
        log_once(
            ('memory-format', type(self).__name__, wanted, device.type,
             self.memory_format),
            f'csn_plugin: {type(self).__name__} weights in {wanted} memory '
            f'format for {device.type} (memory_format='
            f'{self.memory_format!r})')

    def extra_repr(self):
        text = f'memory_format={self.memory_format!r}'
        if self.memory_format == AUTO:
            text += f' ({self.active_memory_format} on ' \
                    f'{_device_of(self).type})'
        parent = super().extra_repr()
        return f'{text}, {parent}' if parent else text
