"""Flow 3: ``mim test csn_plugin <config> -C <checkpoint>`` with the options
of MMAction2 1.x and 0.x, and the ``mim test mmaction`` equivalent."""
import json
import pickle
import re

import numpy as np
import pytest
from flow_helpers import (MIM, MOTION_CONFIG, TEST_VIDEOS, free_port,
                          mim_test, run)

VIEWS = 3  # test clips a video


def sums(scores):
    return [sum(video) for video in scores]


def test_average_clips_prob(prob_run):
    tmp_path, output = prob_run
    assert re.search(r'Testing command is .*/csn_plugin/tools/test\.py',
                     output)
    assert re.search(r'test results: acc/top1: [\d.]+, acc/top5: [\d.]+, '
                     r'acc/mean1: [\d.]+', output)
    scores = json.loads((tmp_path / 'scores.json').read_text())
    assert len(scores) == TEST_VIDEOS
    assert all(len(video) == 4 for video in scores)
    assert sums(scores) == pytest.approx([1.0] * TEST_VIDEOS, abs=1e-5)
    with open(tmp_path / 'dump.pkl', 'rb') as f:
        dumped = pickle.load(f)
    sample_sums = [sample['pred_score'].sum().item() for sample in dumped]
    assert sample_sums == pytest.approx([1.0] * TEST_VIDEOS, abs=1e-5)
    np.testing.assert_allclose(
        [sample['pred_score'].tolist() for sample in dumped], scores,
        atol=1e-6)
    # mmengine's metrics json in the work dir
    (metrics_file, ) = tmp_path.glob('*/*.json')
    assert set(json.loads(metrics_file.read_text())) >= {
        'acc/top1', 'acc/top5', 'acc/mean1'
    }


def test_average_clips_score_with_0x_options(tmp_path, checkpoint,
                                             tiny_options):
    """``--average-clips score`` plus MMAction2 0.x's ``--eval`` and
    ``--out``: raw scores, which do not sum to 1. ``--show-dir`` draws every
    4th video's first clip."""
    output = mim_test('csn_plugin', checkpoint, tiny_options,
                      '--average-clips', 'score', '--eval',
                      'top_k_accuracy', 'mean_class_accuracy', '--work-dir',
                      tmp_path, '--out', tmp_path / 'result.json',
                      '--show-dir', tmp_path / 'vis', '--interval', '4')
    assert re.search(r'test results: acc/top1: [\d.]+, acc/top5: [\d.]+, '
                     r'acc/mean1: [\d.]+', output)
    scores = json.loads((tmp_path / 'result.json').read_text())
    assert len(scores) == TEST_VIDEOS
    assert max(abs(s - 1) for s in sums(scores)) > 1e-3
    drawn = sorted(p.name for p in (tmp_path / 'vis').iterdir())
    assert drawn == ['0_0', '4_0', '8_0']
    assert len(list((tmp_path / 'vis' / '0_0').glob('*/*.png'))) == 8


def test_average_clips_none_keeps_views(tmp_path, checkpoint, tiny_options):
    output = mim_test('csn_plugin', checkpoint, tiny_options,
                      '--average-clips', 'None', '--work-dir', tmp_path,
                      '--out', tmp_path / 'views.yaml')
    assert 'accuracy is not computed' in output
    assert 'test results' not in output
    from mmengine.fileio import load
    scores = load(str(tmp_path / 'views.yaml'))
    assert len(scores) == TEST_VIDEOS
    assert all(len(video) == VIEWS and len(video[0]) == 4 for video in scores)


def test_mim_test_mmaction_equivalent(tmp_path, checkpoint, tiny_options):
    """MMAction2's own test tool, with average_clips from --cfg-options."""
    run([
        MIM, 'test', 'mmaction', MOTION_CONFIG, '-C', checkpoint,
        '--work-dir', tmp_path, '--dump', tmp_path / 'dump.pkl',
        '--cfg-options', 'model.cls_head.average_clips=prob', *tiny_options
    ])
    with open(tmp_path / 'dump.pkl', 'rb') as f:
        dumped = pickle.load(f)
    sample_sums = [sample['pred_score'].sum().item() for sample in dumped]
    assert sample_sums == pytest.approx([1.0] * TEST_VIDEOS, abs=1e-5)


def test_two_processes(tmp_path, checkpoint, tiny_options, prob_run):
    """``--launcher pytorch --gpus 2`` on CPUs: the scores of both processes,
    gathered in dataset order, are those of one process."""
    output = run([
        MIM, 'test', 'csn_plugin', MOTION_CONFIG, '-C', checkpoint,
        '--launcher', 'pytorch', '--gpus', '2', '--port', free_port(),
        '--average-clips', 'prob', '--work-dir', tmp_path, '--out',
        tmp_path / 'scores.json', '--cfg-options', *tiny_options
    ], OMP_NUM_THREADS='1')
    assert 'torch.distributed.launch --nproc_per_node=2' in output
    assert re.search(r'test results: acc/top1: [\d.]+', output)
    single, _ = prob_run
    np.testing.assert_allclose(
        json.loads((tmp_path / 'scores.json').read_text()),
        json.loads((single / 'scores.json').read_text()),
        atol=1e-5)


def test_compile_gives_the_same_scores(tmp_path, checkpoint, tiny_options,
                                       prob_run, compile_enabled):
    """``--compile`` with compiling on (the suite switches it off
    elsewhere): the deployed backbone runs through torch.compile, and the
    scores are those of the run without it."""
    output = mim_test('csn_plugin', checkpoint, tiny_options, '--compile',
                      '--average-clips', 'prob', '--work-dir', tmp_path,
                      '--out', tmp_path / 'scores.json')
    assert re.search(r'compiled \w+ with torch\.compile', output), output
    assert 'failed' not in ' '.join(
        line for line in output.splitlines() if 'torch.compile' in line)
    scores = json.loads((tmp_path / 'scores.json').read_text())
    reference = json.loads((prob_run[0] / 'scores.json').read_text())
    np.testing.assert_allclose(scores, reference, rtol=1e-4, atol=1e-5)
