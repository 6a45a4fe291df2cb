"""ExportedRecognizer gives the data samples of Recognizer3D's test path, on
onnxruntime and OpenVINO; sessions refuse what they cannot run."""
import copy

import pytest
import torch
from deploy_helpers import MOTION_CONFIG, TINY_OPTIONS
from mmaction.structures import ActionDataSample

from csn_plugin.deploy.backends import ExportedRecognizer, open_session
from csn_plugin.deploy.export import build_recognizer, read_config
from csn_plugin.registry import MODELS


def samples(n):
    return [ActionDataSample().set_gt_label(i % 4) for i in range(n)]


def exported(model_file, backend, cfg, average_clips, test_cfg=None):
    head = copy.deepcopy(cfg.model.cls_head)
    head.average_clips = average_clips
    return MODELS.build(
        dict(type='ExportedRecognizer', model_file=model_file,
             backend=backend, cls_head=head,
             data_preprocessor=cfg.model.data_preprocessor,
             test_cfg=test_cfg))


@pytest.mark.parametrize('average_clips', ['prob', 'score', None])
def test_predictions_match_recognizer3d(tiny_exports, tiny_checkpoint,
                                        average_clips):
    onnx_file, xml_file, _ = tiny_exports
    cfg = read_config(MOTION_CONFIG, TINY_OPTIONS)
    cfg.model.cls_head.average_clips = average_clips
    reference = build_recognizer(cfg, tiny_checkpoint)
    inputs = torch.randn(2, 3, 3, 4, 48, 48)  # 2 videos, 3 views each
    with torch.no_grad():
        expected = reference(inputs, samples(2), mode='predict')
    # OpenVINO takes the views two at a time (max_testing_views)
    for backend, model_file, test_cfg in (
            ('onnxruntime', onnx_file, None),
            ('openvino', xml_file, dict(max_testing_views=2))):
        model = exported(model_file, backend, cfg, average_clips, test_cfg)
        got = model(inputs, samples(2), mode='predict')
        for g, e in zip(got, expected):
            assert g.pred_score.shape == e.pred_score.shape
            torch.testing.assert_close(
                g.pred_score, e.pred_score, rtol=1e-4, atol=1e-5)
            assert g.pred_label.tolist() == e.pred_label.tolist()
            assert g.gt_label.tolist() == e.gt_label.tolist()
        # each view's scores, as the recognizer's head computes them
        scores = model(inputs, mode='tensor')
        assert scores.shape == (6, 4)


def test_refuses_backbone_only_export(tmp_path, tiny_checkpoint):
    from csn_plugin.deploy.export import RecognizerGraph, export_onnx
    cfg = read_config(MOTION_CONFIG, TINY_OPTIONS)
    graph = RecognizerGraph(
        build_recognizer(cfg, tiny_checkpoint), backbone_only=True)
    features = str(tmp_path / 'features.onnx')
    export_onnx(graph, torch.randn(1, 1, 3, 4, 48, 48), features)
    with pytest.raises(ValueError, match=r"returns \['features'\], not class "
                       r'scores: it was exported with --backbone-only'):
        exported(features, 'onnxruntime', cfg, 'prob')


def test_wrong_number_of_classes(tiny_exports):
    cfg = read_config(MOTION_CONFIG, TINY_OPTIONS)
    cfg.model.cls_head.num_classes = 400
    model = exported(tiny_exports[0], 'onnxruntime', cfg, 'prob')
    with pytest.raises(ValueError, match='gives 4 class scores; the '
                       "config's head has num_classes=400"):
        model(torch.randn(1, 1, 3, 4, 48, 48), samples(1), mode='predict')


def test_inference_only(tiny_exports):
    cfg = read_config(MOTION_CONFIG, TINY_OPTIONS)
    model = exported(tiny_exports[0], 'onnxruntime', cfg, 'prob')
    with pytest.raises(RuntimeError, match="only runs inference .* not "
                       "'loss'"):
        model(torch.randn(1, 1, 3, 4, 48, 48), samples(1), mode='loss')
    with pytest.raises(ValueError, match=r'takes \[batch, views, C, T, H, '
                       r'W\] clips .* got shape \(1, 3, 4, 48, 48\)'):
        model(torch.randn(1, 3, 4, 48, 48), samples(1), mode='predict')


def test_session_errors(tiny_exports, tmp_path):
    onnx_file, xml_file, _ = tiny_exports
    with pytest.raises(ValueError, match='onnxruntime runs .onnx files, not '
                       '.*tiny.xml'):
        open_session(xml_file, 'onnxruntime')
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        open_session(onnx_file, 'tensorrt')
    with pytest.raises(FileNotFoundError,
                       match='model file not found: .*none.onnx'):
        open_session(str(tmp_path / 'none.onnx'), 'openvino')
    assert ExportedRecognizer.__name__ in MODELS.module_dict
