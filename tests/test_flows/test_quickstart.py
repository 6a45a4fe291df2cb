"""The main job: ``scripts/quickstart.sh`` generates the motion dataset,
trains with ``mim train mmaction``, tests with ``mim test csn_plugin
--average-clips prob``, prints the accuracy and plots the run, without the
stack's harmless warnings; the model learns.

The install step is skipped (the suite runs in the installed environment),
and the script trains the quickstart config on 56x56 crops of 64-pixel
videos: a quarter of the compute, a couple of minutes on 2 cores.
"""
import json
import os.path as osp
import re
import sys

import cv2
from flow_helpers import REPO, SMALL_INPUT, run

from csn_plugin.compat.quiet_warnings import KNOWN_HARMLESS

TRAIN_PER_CLASS = 150  # 75 iterations an epoch, 12 epochs
TEST_PER_CLASS = 15
CHANCE = 0.25  # 4 classes


def test_quickstart_learns(tmp_path):
    work = tmp_path / 'quickstart'
    output = run(
        ['bash', osp.join(REPO, 'scripts', 'quickstart.sh')],
        # 2 to 5 minutes measured on a busy 2-core machine; a safety net
        timeout=1200,
        # The script's choice on 2 cores (its data worker takes the other);
        # 2 threads there wait on each other and take several times longer.
        OMP_NUM_THREADS='1',
        SKIP_INSTALL='1',
        VENV=osp.dirname(osp.dirname(sys.executable)),
        WORK=str(work),
        DATASET_ARGS=f'--size 64 --frames 24 --train-per-class '
        f'{TRAIN_PER_CLASS} --val-per-class 5 --test-per-class '
        f'{TEST_PER_CLASS} --no-progress',
        TRAIN_ARGS='--seed 0 --cfg-options ' + ' '.join(SMALL_INPUT),
        TEST_ARGS='--cfg-options ' + ' '.join(SMALL_INPUT))

    for step in range(1, 6):
        assert f'==> [{step}/5]' in output
    assert re.search(r'Training command is \S+ \S+/mmaction/\.mim/tools/'
                     r'train\.py', output)
    assert re.search(r'Testing command is \S+ \S+/csn_plugin/tools/test\.py '
                     r'.* --average-clips prob', output)
    # mmengine's progress: loss and time left every 5 iterations
    assert re.search(r'Epoch\(train\) +\[12\]\[75/75\] .*eta: .* loss: ',
                     output)
    assert f'{4 * TEST_PER_CLASS} held-out videos' in output
    print(output[output.index('==> [5/5]'):])  # the accuracy, in the report
    top1 = float(re.search(r'top-1 accuracy: +([\d.]+) %', output)[1]) / 100
    mean1 = float(
        re.search(r'mean class accuracy: +([\d.]+) %', output)[1]) / 100
    # Learned: well above chance on videos it never saw.
    assert top1 >= 2 * CHANCE, output[-3000:]
    assert mean1 >= 2 * CHANCE, output[-3000:]
    scores = json.loads((work / 'test' / 'scores.json').read_text())
    assert len(scores) == 4 * TEST_PER_CLASS
    assert all(abs(sum(video) - 1) < 1e-5 for video in scores)
    # It ends with the plot of the run, next to the scores.
    plot = work / 'test' / 'results.png'
    assert output.rstrip().endswith(f'test confusion matrix: {plot}')
    assert cv2.imread(str(plot)).shape == (450, 1500, 3)
    # A quiet run: none of the stack's known harmless warnings.
    for item in KNOWN_HARMLESS:
        assert item.message not in output, item.message
