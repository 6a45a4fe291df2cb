"""``python -m csn_plugin.tools.plot_results`` on the tiny run's training
log and test scores: the plotted numbers are the run's."""
import glob
import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from csn_plugin.tools import plot_results


def test_plot_of_the_tiny_run(mim_trained, prob_run, tiny_data, tmp_path,
                              capsys):
    train_dir, train_output = mim_trained
    test_dir, _ = prob_run
    out = tmp_path / 'results.png'
    ann_file = osp.join(tiny_data, 'test_list_videos.txt')
    plot_results.main([
        str(train_dir), '--scores',
        str(test_dir / 'scores.json'), '--ann-file', ann_file, '--label-map',
        osp.join(tiny_data, 'label_map.txt'), '--out',
        str(out)
    ])
    assert capsys.readouterr().out.strip().endswith(f'matrix: {out}')
    image = cv2.imread(str(out))
    assert image.shape == (450, 1500, 3) and image.std() > 10

    # One epoch of 3 iterations: the loss plotted is their mean, the
    # accuracy the validation's, as the training log printed them.
    losses, val_acc, _ = plot_results.read_training_log(str(train_dir))
    logged = [
        float(x) for x in re.findall(
            r'Epoch\(train\) +\[1\]\[\d/3\].* loss: ([\d.]+)', train_output)
    ]
    assert len(logged) == 3
    assert losses == {1: pytest.approx(np.mean(logged), abs=1e-4)}
    top1 = float(
        re.search(r'Epoch\(val\) +\[1\]\[\d+/\d+\] +acc/top1: ([\d.]+)',
                  train_output)[1])
    assert val_acc == {1: pytest.approx(top1, abs=1e-4)}

    # The confusion matrix counts the 12 test videos; its diagonal is the
    # test top-1 that mim test reported.
    scores = json.loads((test_dir / 'scores.json').read_text())
    matrix = plot_results.confusion_matrix(
        scores, plot_results.read_labels(ann_file), 4)
    assert matrix.sum() == 12 and (matrix.sum(axis=1) == 3).all()
    (metrics_file, ) = glob.glob(str(test_dir / '*' / '*.json'))
    metrics = json.loads(open(metrics_file).read())
    assert np.trace(matrix) / 12 == pytest.approx(metrics['acc/top1'])


def test_bad_scores_are_named(tmp_path):
    with pytest.raises(ValueError, match='3 labels but scores of shape'):
        plot_results.confusion_matrix([[0.1, 0.9]] * 2, [0, 1, 1], 2)
    with pytest.raises(FileNotFoundError, match='no \\*/vis_data/scalars'):
        plot_results.read_training_log(str(tmp_path))
