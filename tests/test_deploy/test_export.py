"""ONNX export: the tool's verification, dynamic axes, the graph's layout,
every kind of model, backbone-only export and the tool's errors."""
import contextlib
import io
import re

import numpy as np
import onnx
import pytest
import torch
from deploy_helpers import (MOTION_CONFIG, SHAPE, TINY, TINY_OPTIONS,
                            tiny_recognizer)

from csn_plugin.deploy.backends import compare_with_pytorch, open_session
from csn_plugin.deploy.export import (RecognizerGraph, build_recognizer,
                                      export_onnx, read_config)
from csn_plugin.tools import export


def run_export(*argv):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        export.main([str(a) for a in argv])
    return printed.getvalue()


def tiny_graph(checkpoint):
    cfg = read_config(MOTION_CONFIG, TINY_OPTIONS)
    return RecognizerGraph(build_recognizer(cfg, checkpoint)).eval()


def test_tool_verifies_onnxruntime_and_openvino(tiny_exports):
    *_, printed = tiny_exports
    found = re.findall(
        r'(onnxruntime|openvino) vs PyTorch, input \[([\d, ]+)\]: max '
        r'relative difference (\S+)', printed)
    assert [(engine, shape) for engine, shape, _ in found] == [
        (engine, shape) for engine in ('onnxruntime', 'openvino')
        for shape in ('1, 2, 3, 4, 48, 48', '2, 1, 3, 4, 64, 80')
    ]
    assert all(float(diff) < 1e-4 for *_, diff in found)


def test_dynamic_axes_match_pytorch(tiny_exports, tiny_checkpoint):
    """Batch, views, time, height and width other than the traced ones."""
    onnx_file, xml_file, _ = tiny_exports
    graph = tiny_graph(tiny_checkpoint)
    clips = torch.randn(3, 2, 3, 6, 40, 56)
    for backend, model_file in (('onnxruntime', onnx_file),
                                ('openvino', xml_file), ('openvino',
                                                         onnx_file)):
        session = open_session(model_file, backend)
        assert session(clips.numpy())[0].shape == (3, 2, 4)
        assert compare_with_pytorch(session, graph, clips) < 1e-4


def test_graph_layout(tiny_exports):
    """mmdeploy's input layout, named dynamic axes, BN folded into the
    convs and the head's pooling as a mean over the axes."""
    graph = onnx.load(tiny_exports[0]).graph

    def dims(value):
        return [d.dim_param or d.dim_value
                for d in value.type.tensor_type.shape.dim]

    (clips, ), (scores, ) = graph.input, graph.output
    assert (clips.name, dims(clips)) == (
        'clips', ['batch', 'views', 3, 'time', 'height', 'width'])
    assert (scores.name, dims(scores)) == ('scores', ['batch', 'views', 4])
    ops = {node.op_type for node in graph.node}
    assert 'ReduceMean' in ops
    assert not ops & {'BatchNormalization', 'GlobalAveragePool',
                      'AveragePool'}


# ir-CSN-26: the tiny_exports fixture
@pytest.mark.parametrize('name',
                         ['r3d_r18', 'gccsn_r18', 'ipcsn_r26', 'sevnet'])
def test_every_kind_of_model_exports(tmp_path, name):
    _, model = tiny_recognizer(name)
    graph = RecognizerGraph(model).eval()
    onnx_file = str(tmp_path / f'{name}.onnx')
    export_onnx(graph, torch.randn(1, 2, 3, 4, 48, 48), onnx_file)
    session = open_session(onnx_file, 'onnxruntime')
    clips = torch.randn(2, 1, 3, 6, 56, 40)
    assert session(clips.numpy())[0].shape == (2, 1, 400)
    assert compare_with_pytorch(session, graph, clips) < 1e-4


def test_backbone_only_at_opset_11(tmp_path, tiny_checkpoint):
    onnx_file = tmp_path / 'features.onnx'
    printed = run_export(MOTION_CONFIG, tiny_checkpoint, onnx_file,
                         '--backbone-only', '--opset', '11', '--shape',
                         *SHAPE, '--cfg-options', *TINY)
    assert '-> features (opset 11)' in printed
    assert onnx.load(str(onnx_file)).opset_import[0].version == 11
    session = open_session(str(onnx_file), 'onnxruntime')
    assert session.output_names == ['features']
    clips = torch.randn(2, 3, 3, 8, 64, 64)
    cfg = read_config(MOTION_CONFIG, TINY_OPTIONS)
    backbone = build_recognizer(cfg, tiny_checkpoint).backbone
    with torch.no_grad():
        expected = backbone(clips.flatten(0, 1))
    (got, ) = session(clips.numpy())
    assert got.shape == (2, 3) + tuple(expected.shape[1:])
    np.testing.assert_allclose(
        got.reshape(expected.shape), expected.numpy(),
        atol=1e-4 * expected.abs().max().item())


def test_unknown_config(tmp_path, tiny_checkpoint):
    with pytest.raises(FileNotFoundError, match='config file not found: '
                       '.*no_such_config.py'):
        run_export(tmp_path / 'no_such_config.py', tiny_checkpoint,
                   tmp_path / 'out.onnx')


def test_checkpoint_of_another_width(tmp_path, tiny_checkpoint):
    """The tiny checkpoint under the config's own width (16 channels)."""
    with pytest.raises(ValueError) as error:
        run_export(MOTION_CONFIG, tiny_checkpoint, tmp_path / 'out.onnx',
                   '--shape', *SHAPE)
    message = str(error.value)
    assert tiny_checkpoint in message
    assert re.search(r'shape mismatch\(es\): backbone\.conv1\.conv\.weight '
                     r'\(8, 3, 3, 7, 7\) in the checkpoint vs '
                     r'\(16, 3, 3, 7, 7\) in the model', message)


def test_checkpoint_with_missing_and_unexpected_keys(tmp_path):
    _, model = tiny_recognizer()
    state = model.state_dict()
    state['cls_head.fc.weight'] = state.pop('cls_head.fc_cls.weight')
    checkpoint = str(tmp_path / 'renamed.pth')
    torch.save({'state_dict': state}, checkpoint)
    with pytest.raises(ValueError, match=r'1 missing key\(s\): cls_head\.'
                       r'fc_cls\.weight; 1 unexpected key\(s\): '
                       r'cls_head\.fc\.weight'):
        run_export(MOTION_CONFIG, checkpoint, tmp_path / 'out.onnx',
                   '--shape', *SHAPE, '--cfg-options', *TINY)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match='checkpoint file not found: .*nothing.pth'):
        run_export(MOTION_CONFIG, tmp_path / 'nothing.pth',
                   tmp_path / 'out.onnx', '--cfg-options', *TINY)


@pytest.mark.parametrize('opset', ['5', '99'])
def test_unsupported_opset(tmp_path, tiny_checkpoint, opset):
    with pytest.raises(ValueError, match=f'unsupported ONNX opset {opset}: '
                       'choose 11 to 20'):
        run_export(MOTION_CONFIG, tiny_checkpoint, tmp_path / 'out.onnx',
                   '--opset', opset, '--cfg-options', *TINY)


def test_verification_fails_above_tolerance(tiny_exports, tiny_checkpoint):
    clips = export.verification_clips((4, 48, 48))
    with pytest.raises(export.VerificationError,
                       match='differs from PyTorch by .* under onnxruntime'):
        export.verify(tiny_graph(tiny_checkpoint), tiny_exports[0],
                      'onnxruntime', clips, tolerance=0)


def test_command_line_error_in_one_line(tmp_path, capsys):
    """The command line reports bad input in one line, no traceback."""
    with pytest.raises(SystemExit) as done:
        export.cli([str(tmp_path / 'missing.py'), 'ck.pth',
                    str(tmp_path / 'o.onnx')])
    assert done.value.code == (
        f'error: config file not found: {tmp_path / "missing.py"}')
