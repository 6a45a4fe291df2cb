"""Class scores of a bf16 test run, stored as float32.

With ``test_cfg = dict(type='TestLoop', fp16=True)`` mmengine runs the model
under autocast, which is bf16 on the CPU; the head then returns bf16 scores.
MMAction2 1.2.0 stores them as they are and its metrics call ``.numpy()`` on
them (``AccMetric.process``), which NumPy cannot take: ``TypeError: Got
unsupported ScalarType BFloat16``. ``ActionDataSample.set_pred_score`` keeps
float32 instead; scores of any other dtype are stored as before.
"""
import functools

import torch


def _bf16_as_float32(set_pred_score):

    @functools.wraps(set_pred_score)
    def set_score(self, value):
        if isinstance(value, torch.Tensor) and value.dtype == torch.bfloat16:
            value = value.float()
        return set_pred_score(self, value)

    set_score.__csn_patched__ = True
    return set_score


def install_bf16_scores():
    """Patch ``ActionDataSample.set_pred_score``; safe to call more than once.

    Returns:
        bool: Whether it was patched now (False when already done).
    """
    from mmaction.structures import ActionDataSample
    if getattr(ActionDataSample.set_pred_score, '__csn_patched__', False):
        return False
    ActionDataSample.set_pred_score = _bf16_as_float32(
        ActionDataSample.set_pred_score)
    return True
