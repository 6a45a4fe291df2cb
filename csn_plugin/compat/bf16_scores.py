"""Class scores of bf16 runs, as float32 where MMAction2 hands them to NumPy.

Under bf16 autocast (``BF16OptimWrapper`` for training, ``test_cfg =
dict(type='TestLoop', fp16=True)`` for testing) the head returns bf16 class
scores, and MMAction2 1.2.0 calls ``.numpy()`` on them, which NumPy cannot
take (``TypeError: Got unsupported ScalarType BFloat16``):

* in training, ``BaseHead.loss_by_feat`` computes the top-k accuracy it logs
  from ``cls_scores.numpy()``: the first iteration fails. The patched
  ``loss_by_feat`` takes the scores as float32, so the loss is computed in
  float32 too (autocast runs losses in float32 anyway);
* in testing, ``ActionDataSample.set_pred_score`` stores the scores and the
  metrics call ``.numpy()`` on them (``AccMetric.process``); it keeps float32
  instead.

Scores of any other dtype are handled as before.
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


def _loss_on_float32_scores(loss_by_feat):

    @functools.wraps(loss_by_feat)
    def loss(self, cls_scores, data_samples):
        if (isinstance(cls_scores, torch.Tensor)
                and cls_scores.dtype == torch.bfloat16):
            cls_scores = cls_scores.float()
        return loss_by_feat(self, cls_scores, data_samples)

    loss.__csn_patched__ = True
    return loss


def install_bf16_scores():
    """Patch ``ActionDataSample.set_pred_score`` and
    ``BaseHead.loss_by_feat``; safe to call more than once.

    Returns:
        bool: Whether they were patched now (False when already done).
    """
    from mmaction.models.heads.base import BaseHead
    from mmaction.structures import ActionDataSample
    if getattr(ActionDataSample.set_pred_score, '__csn_patched__', False):
        return False
    ActionDataSample.set_pred_score = _bf16_as_float32(
        ActionDataSample.set_pred_score)
    BaseHead.loss_by_feat = _loss_on_float32_scores(BaseHead.loss_by_feat)
    return True
