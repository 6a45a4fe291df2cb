"""The memory format a backbone computes in.

oneDNN's CPU convolutions, the depthwise 3x3x3 ones of CSN above all, are
fastest on ``channels_last_3d`` (NTHWC) tensors, and a conv whose *weight*
is in that format gives its output that format too. So the format is set on
the weights, once, and ``forward`` converts nothing: it exports to ONNX, and
hooks see the values of the contiguous computation (in another order of
summation, within float rounding). Checkpoints hold the same values either
way.
"""
import torch

__all__ = ['MEMORY_FORMATS', 'set_memory_format']

#: config name -> torch memory format
MEMORY_FORMATS = {
    'channels_last_3d': torch.channels_last_3d,
    'contiguous': torch.contiguous_format,
}


def set_memory_format(module, memory_format):
    """Store the 5-D weights of ``module`` in ``memory_format`` (a key of
    :data:`MEMORY_FORMATS`), in place.

    Returns:
        nn.Module: ``module``.
    """
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f'memory_format must be one of '
                         f'{sorted(MEMORY_FORMATS)}, but got '
                         f'{memory_format!r}')
    return module.to(memory_format=MEMORY_FORMATS[memory_format])
