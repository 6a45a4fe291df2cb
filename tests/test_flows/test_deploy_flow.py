"""Flow: export the trained model, quantize it to int8 on clips of its
training set, and test both with ``mim test csn_plugin ... --backend``: the
same metrics and ``--out`` scores as the PyTorch path."""
import contextlib
import io
import json
import re

import numpy as np
import pytest
from flow_helpers import MOTION_CONFIG, TEST_VIDEOS, mim_test

from csn_plugin.tools import export, quantize

METRICS = (r'test results: acc/top1: [\d.]+, acc/top5: [\d.]+, '
           r'acc/mean1: [\d.]+')


def call(tool, *argv):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        tool.main([str(a) for a in argv])
    return printed.getvalue()


@pytest.fixture(scope='module')
def deployed(tmp_path_factory, checkpoint, tiny_options):
    """The trained model as fp32 ONNX and as OpenVINO int8 IR, and what the
    tools printed."""
    out = tmp_path_factory.mktemp('deployed')
    exported = call(export, MOTION_CONFIG, checkpoint, out / 'model.onnx',
                    '--cfg-options', *tiny_options)
    quantized = call(quantize, MOTION_CONFIG, checkpoint, out / 'int8.xml',
                     '--calib-clips', '4', '--cfg-options', *tiny_options)
    return out, exported, quantized


def test_onnxruntime_matches_pytorch(tmp_path, deployed, prob_run,
                                     tiny_options):
    out, exported, _ = deployed
    # traced at the test pipeline's clips, as --cfg-options make them
    assert re.search(r'onnxruntime vs PyTorch, input \[1, 2, 3, 8, 56, 56\]: '
                     r'max relative difference', exported)
    output = mim_test('csn_plugin', out / 'model.onnx', tiny_options,
                      '--backend', 'onnxruntime', '--average-clips', 'prob',
                      '--work-dir', tmp_path, '--out',
                      tmp_path / 'scores.json')
    pytorch_dir, pytorch_output = prob_run
    metrics = re.search(METRICS, output).group()
    assert metrics == re.search(METRICS, pytorch_output).group()
    scores = json.loads((tmp_path / 'scores.json').read_text())
    assert len(scores) == TEST_VIDEOS
    np.testing.assert_allclose(
        scores, json.loads((pytorch_dir / 'scores.json').read_text()),
        atol=1e-5)


def test_openvino_int8(tmp_path, deployed, prob_run, tiny_options):
    """Calibrated on 4 training clips; tested with MMAction2 0.x options.
    Its class probabilities stay close to fp32's."""
    out, _, printed = deployed
    assert re.search(r'4 calibration clips of shape \[1, 1, 3, 8, 56, 56\]',
                     printed)
    assert re.search(r'int8 vs fp32 on the calibration clips: same top-1 on '
                     r'\d of 4', printed)
    output = mim_test('csn_plugin', out / 'int8.xml', tiny_options,
                      '--backend', 'openvino', '--average-clips', 'prob',
                      '--eval', 'top_k_accuracy', 'mean_class_accuracy',
                      '--work-dir', tmp_path, '--out',
                      tmp_path / 'scores.json')
    assert re.search(METRICS, output)
    scores = np.array(json.loads((tmp_path / 'scores.json').read_text()))
    pytorch = np.array(
        json.loads((prob_run[0] / 'scores.json').read_text()))
    assert scores.shape == pytorch.shape == (TEST_VIDEOS, 4)
    assert 0 < np.abs(scores - pytorch).max() < 0.1
