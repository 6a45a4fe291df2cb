"""bf16 class scores (CPU bf16 autocast testing) reach MMAction2's metrics
as float32."""
import torch
from mmaction.evaluation import AccMetric
from mmaction.structures import ActionDataSample

import csn_plugin  # noqa: F401  (patches the stack)
from csn_plugin.compat.bf16_scores import install_bf16_scores


def test_bf16_scores_are_stored_as_float32_and_evaluate():
    assert install_bf16_scores() is False  # done on import already
    sample = ActionDataSample().set_gt_label(1)
    sample.set_pred_score(torch.tensor([0.2, 0.7, 0.1], dtype=torch.bfloat16))
    assert sample.pred_score.dtype == torch.float32
    metric = AccMetric()
    metric.process(None, [sample.to_dict()])  # .numpy() of the scores
    assert metric.compute_metrics(metric.results)['top1'] == 1.0


def test_other_dtypes_are_stored_as_before():
    sample = ActionDataSample()
    sample.set_pred_score(torch.tensor([0.5, 0.5], dtype=torch.float16))
    assert sample.pred_score.dtype == torch.float16
