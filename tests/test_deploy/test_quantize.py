"""int8 post-training quantization of exported models: both engines write
int8 graphs close to fp32, for ir-CSN, ip-CSN and SEVNet; bad requests
fail clearly. (Calibration on a config's training set and the test-set
accuracy through ``mim test``: tests/test_flows/test_deploy_flow.py.)"""
import numpy as np
import onnx
import openvino as ov
import pytest
import torch
from deploy_helpers import tiny_recognizer

from csn_plugin.deploy.backends import open_session
from csn_plugin.deploy.export import (RecognizerGraph, export_onnx,
                                      max_relative_diff)
from csn_plugin.deploy.quantize import quantize

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
