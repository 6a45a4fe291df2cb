"""Reading the state dict of a checkpoint file."""
from mmengine.runner.checkpoint import _load_checkpoint

__all__ = ['read_state_dict']


def read_state_dict(filename):
    """The state dict a checkpoint holds, read through mmengine (local
    paths, URLs, ``open-mmlab://``), from its ``state_dict`` entry or the
    file itself, with DataParallel's ``module.`` prefixes removed.

    Raises:
        TypeError: When the file holds no state dict.
    """
    checkpoint = _load_checkpoint(filename, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, dict):
        raise TypeError(f'{filename} holds no state dict')
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state_dict.items()}
