"""int8 post-training quantization of exported models: both engines write
int8 graphs close to fp32, for ir-CSN, ip-CSN and SEVNet; any calibration
count works and every clip counts; bad requests fail clearly. (Calibration
on a config's training set and the test-set accuracy through ``mim test``:
tests/test_flows/test_deploy_flow.py.)"""
import numpy as np
import onnx
import openvino as ov
import pytest
import torch
from deploy_helpers import MOTION_CONFIG, TINY_OPTIONS, tiny_recognizer
from onnx import numpy_helper

from csn_plugin.deploy.backends import open_session
from csn_plugin.deploy.export import (INPUT_NAME, RecognizerGraph,
                                      export_onnx, max_relative_diff,
                                      read_config)
from csn_plugin.deploy.quantize import calibration_clips, quantize

SUFFIX = {'openvino': '.xml', 'onnxruntime': '.onnx'}
#: small clips for the calibration-count tests (1x1 stage-4 maps)
SMALL_CLIP = (1, 1, 3, 4, 32, 32)


def fp32_model(tmp_path, name):
    _, model = tiny_recognizer(name)
    onnx_file = str(tmp_path / f'{name}.onnx')
    export_onnx(RecognizerGraph(model), torch.randn(1, 1, 3, 4, 48, 48),
                onnx_file)
    gen = torch.Generator().manual_seed(1)
    clips = [torch.randn(1, 1, 3, 4, 48, 48, generator=gen).numpy()
             for _ in range(4)]
    return onnx_file, clips


def int8_ops_openvino(xml_file):
    model = ov.Core().read_model(xml_file)
    return sum(op.get_type_name() == 'FakeQuantize' for op in model.get_ops())


def int8_ops_onnxruntime(onnx_file):
    return sum(node.op_type == 'QuantizeLinear'
               for node in onnx.load(onnx_file).graph.node)


# OpenVINO int8 of the trained ir-CSN: tests/test_flows/test_deploy_flow.py
@pytest.mark.parametrize('name, backend', [('ircsn_r26', 'onnxruntime'),
                                           ('ipcsn_r26', 'onnxruntime'),
                                           ('sevnet_s', 'openvino')])
def test_int8_close_to_fp32(tmp_path, name, backend):
    onnx_file, clips = fp32_model(tmp_path, name)
    suffix = '.xml' if backend == 'openvino' else '.onnx'
    int8_file = str(tmp_path / f'int8{suffix}')
    quantize(onnx_file, clips, int8_file, backend)
    count = (int8_ops_openvino if backend == 'openvino' else
             int8_ops_onnxruntime)(int8_file)
    assert count >= 10  # every conv's input is quantized
    fp32, int8 = open_session(onnx_file, 'onnxruntime'), open_session(
        int8_file, backend)
    clip = np.random.default_rng(2).standard_normal(
        (2, 1, 3, 4, 48, 48)).astype(np.float32)
    diff = max_relative_diff(int8(clip), fp32(clip))
    assert 1e-4 < diff < 0.2  # quantized, and close


def test_bad_requests(tmp_path, tiny_exports):
    onnx_file, clips = tiny_exports[0], []
    with pytest.raises(ValueError, match='openvino int8 models are .xml '
                       'files, not .*int8.onnx'):
        quantize(onnx_file, clips, str(tmp_path / 'int8.onnx'), 'openvino')
    with pytest.raises(ValueError, match="unknown quantization backend "
                       "'tensorrt'"):
        quantize(onnx_file, clips, str(tmp_path / 'int8.onnx'), 'tensorrt')


@pytest.fixture(scope='module')
def small_onnx(tmp_path_factory):
    """The tiny ir-CSN-26 as fp32 ONNX for 4x32x32 clips."""
    _, model = tiny_recognizer('ircsn_r26')
    onnx_file = str(tmp_path_factory.mktemp('calib') / 'small.onnx')
    export_onnx(RecognizerGraph(model), torch.randn(*SMALL_CLIP), onnx_file)
    return onnx_file


def random_clips(count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(SMALL_CLIP).astype(np.float32)
            for _ in range(count)]


# With onnxruntime's CalibMaxIntermediateOutputs=16 its calibrator drops
# every full batch of 16 clips: 16, 32 and 80 fail with "No data is
# collected.", 79 calibrates on 15. NNCF (about 0.1 s a clip here) gets the
# multiples of 16 and the neighbours 1 and 79.
@pytest.mark.parametrize('backend, count', [
    *(('onnxruntime', count) for count in (1, 16, 32, 79, 80, 300)),
    *(('openvino', count) for count in (1, 16, 79, 80)),
])
def test_any_calibration_count(tmp_path, small_onnx, backend, count):
    int8_file = str(tmp_path / f'int8{SUFFIX[backend]}')
    quantize(small_onnx, random_clips(count), int8_file, backend)
    ops = (int8_ops_openvino if backend == 'openvino' else
           int8_ops_onnxruntime)(int8_file)
    assert ops >= 10


def input_range_onnxruntime(onnx_file):
    """``(low, high)`` the int8 graph takes its input to span: from the
    scale and zero point of the QuantizeLinear on the reshaped clips."""
    graph = onnx.load(onnx_file).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    made_by = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        source = made_by.get(node.input[0]) if node.input else None
        if (node.op_type == 'QuantizeLinear' and source is not None
                and INPUT_NAME in source.input):
            scale = float(values[node.input[1]])
            zero = int(values[node.input[2]])
            return -zero * scale, (255 - zero) * scale
    raise AssertionError('no QuantizeLinear on the input')


@pytest.mark.parametrize('count', [17, 32, 40])
def test_onnxruntime_calibrates_on_every_clip(tmp_path, small_onnx, count):
    """Only the first clip is large: the input's range must reach it."""
    clips = random_clips(count, seed=1)
    clips[0] = clips[0] * 10
    low = min(0.0, min(float(c.min()) for c in clips))
    high = max(0.0, max(float(c.max()) for c in clips))
    int8_file = str(tmp_path / 'int8.onnx')
    quantize(small_onnx, clips, int8_file, 'onnxruntime')
    got_low, got_high = input_range_onnxruntime(int8_file)
    step = (high - low) / 255
    assert abs(got_low - low) <= step and abs(got_high - high) <= step
    # the clips after the first 16 alone span less than a fifth of that
    assert max(float(np.abs(c).max()) for c in clips[16:]) < high / 5


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_no_clips(tmp_path, small_onnx, backend):
    with pytest.raises(ValueError, match='no calibration clips'):
        quantize(small_onnx, [], str(tmp_path / f'int8{SUFFIX[backend]}'),
                 backend)


def test_more_clips_than_videos(tmp_path):
    """A count the training set cannot supply names the count and the
    videos there are (before any video is decoded)."""
    for i in range(3):
        (tmp_path / f'v{i}.mp4').write_bytes(b'')
    (tmp_path / 'train.txt').write_text(
        ''.join(f'v{i}.mp4 {i}\n' for i in range(3)))
    cfg = read_config(MOTION_CONFIG, dict(
        TINY_OPTIONS, **{
            'train_dataloader.dataset.ann_file': str(tmp_path / 'train.txt'),
            'train_dataloader.dataset.data_prefix.video': str(tmp_path),
        }))
    with pytest.raises(ValueError,
                       match=r'--calib-clips 4 asks for more clips than the '
                       r'training set has videos: it has 3 .*--calib-clips 3 '
                       r'or fewer'):
        calibration_clips(cfg, 4)
    with pytest.raises(ValueError, match='--calib-clips must be at least 1, '
                       'got 0'):
        calibration_clips(cfg, 0)
