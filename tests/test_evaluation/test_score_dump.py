"""ClassScoreDump writes each video's class scores, as MMAction2 0.x's
``--out`` did."""
import pytest
import torch
from mmengine.fileio import load

from csn_plugin.evaluation import ClassScoreDump

SCORES = [[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]]


@pytest.mark.parametrize('name', ['scores.json', 'scores.yaml', 'scores.pkl'])
def test_dump_formats(tmp_path, name):
    out_file = tmp_path / 'sub' / name
    metric = ClassScoreDump(str(out_file))
    metric.process({}, [dict(pred_score=torch.tensor(s)) for s in SCORES[:2]])
    metric.process({}, [dict(pred_score=torch.tensor(SCORES[2]))])
    assert metric.evaluate(size=3) == {}
    assert load(str(out_file)) == SCORES


def test_per_view_scores(tmp_path):
    """With average_clips=None a video has one row per view."""
    out_file = tmp_path / 'views.json'
    metric = ClassScoreDump(str(out_file))
    metric.process({}, [dict(pred_score=torch.tensor([SCORES[0], SCORES[1]]))])
    metric.evaluate(size=1)
    assert load(str(out_file)) == [SCORES[:2]]


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match=r"'scores\.txt'.*\.json"):
        ClassScoreDump('scores.txt')
