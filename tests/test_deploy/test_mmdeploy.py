"""mmdeploy 1.3.1 (the ``mmdeploy`` extra) exports the plugin's configs and
runs them in onnxruntime through its backend model, on torch 2.13.

The PyPI wheel of mmdeploy ships neither ``tools/deploy.py`` nor
``configs/``, so the deploy configs are built here as dicts equal to those
of mmdeploy v1.3.1's ``configs/mmaction/video-recognition/`` (with their
``_base_`` files merged), and ``test_spawned_export_like_deploy_tool`` runs
the export the way ``tools/deploy.py`` does: in a spawned process that
imports the plugin only through the model config's ``custom_imports``.
"""
import copy
import importlib.util
import os.path as osp
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from deploy_helpers import MOTION_CONFIG, TINY_OPTIONS

from csn_plugin.datasets.synthetic_motion import (render_motion_video,
                                                  write_video)
from csn_plugin.deploy.export import read_config

pytest.importorskip('mmdeploy', reason='the mmdeploy extra is not installed')

from mmdeploy.apis import inference_model, torch2onnx  # noqa: E402
from mmdeploy.apis.utils import build_task_processor  # noqa: E402
from mmdeploy.codebase.mmaction.deploy.video_recognition import \
    VideoRecognition  # noqa: E402
from mmdeploy.core import RewriterContext  # noqa: E402

#: largest difference between onnxruntime's and PyTorch's class scores,
#: relative to PyTorch's largest score (as ``csn_plugin.tools.export``)
TOLERANCE = 1e-4

#: ``configs/_base_/onnx_config.py`` of mmdeploy v1.3.1
_ONNX_CONFIG = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True)
#: ``video-recognition_onnxruntime_static.py`` of mmdeploy v1.3.1
STATIC = dict(
    onnx_config=_ONNX_CONFIG,
    codebase_config=dict(type='mmaction', task='VideoRecognition'),
    backend_config=dict(type='onnxruntime'))
#: ``video-recognition_3d_dynamic.py`` with the onnxruntime backend
#: (mmdeploy v1.3.1 has no ``video-recognition_onnxruntime_dynamic.py``;
#: ``_3d_dynamic.py`` and ``../../_base_/backends/onnxruntime.py`` as bases)
DYNAMIC = copy.deepcopy(STATIC)
DYNAMIC['onnx_config']['dynamic_axes'] = {
    'input': {
        0: 'batch',
        1: 'num_crops * num_segs',
        3: 'time',
        4: 'height',
        5: 'width'
    },
    'output': {
        0: 'batch'
    }
}
DEPLOY_CONFIGS = dict(static=STATIC, dynamic=DYNAMIC)

#: the tiny ir-CSN of the deploy tests; 'score' averaging, so that the
#: compared numbers are the head's raw scores, not probabilities near 1/4
MODEL_OPTIONS = dict(TINY_OPTIONS, **{'model.cls_head.average_clips': 'score'})


def model_config(**pipeline):
    """The motion config at the tiny size; ``pipeline`` changes the test
    pipeline's ``num_clips``, ``clip_len`` and crop size."""
    from mmengine import Config
    cfg = read_config(MOTION_CONFIG, MODEL_OPTIONS)
    cfg = Config(cfg.to_dict())  # a copy whose pipeline can change
    for step in cfg.test_pipeline:
        if step.type == 'SampleFrames':
            step.num_clips = pipeline.get('num_clips', step.num_clips)
            step.clip_len = pipeline.get('clip_len', step.clip_len)
        if step.type == 'Resize' and 'crop' in pipeline:
            step.scale = (-1, pipeline['crop'])
        if step.type == 'CenterCrop':
            step.crop_size = pipeline.get('crop', step.crop_size)
    return cfg


def deploy_config(kind):
    from mmengine import Config
    return Config(copy.deepcopy(DEPLOY_CONFIGS[kind]))


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('mmdeploy') / 'motion.mp4')
    frames = render_motion_video(np.random.default_rng(0), 90.0, 24, 64)
    write_video(path, frames, fps=8)
    return path


def export(video, checkpoint, work_dir, kind):
    torch2onnx(video, str(work_dir), 'end2end.onnx', deploy_config(kind),
               model_config(), checkpoint, device='cpu')
    onnx_file = osp.join(str(work_dir), 'end2end.onnx')
    assert osp.isfile(onnx_file)
    return onnx_file


def scores(results):
    return torch.stack([r.pred_score for r in results]).float()


def relative_difference(got, expected):
    return float((got - expected).abs().max() / expected.abs().max())


def pytorch_scores(model_cfg, kind, checkpoint, video):
    processor = build_task_processor(model_cfg, deploy_config(kind), 'cpu')
    model = processor.build_pytorch_model(checkpoint)
    data, _ = processor.create_input(video)
    with torch.no_grad():
        return scores(model.test_step(data)), data['inputs'][0].shape


def test_fixes_applied_on_import():
    from mmdeploy.codebase.mmaction.deploy.video_recognition_model import \
        End2EndModel
    for method in (RewriterContext.__enter__, RewriterContext.__exit__,
                   VideoRecognition.build_backend_model,
                   VideoRecognition.visualize, End2EndModel.forward):
        assert getattr(method, '__csn_patched__', False), method


def test_unimportable_mmdeploy_warns(monkeypatch):
    """A broken mmdeploy costs its fixes, with a warning, not the plugin."""
    from csn_plugin.compat import mmdeploy_onnx_export as compat
    with pytest.warns(UserWarning, match='mmdeploy.no_such_module cannot '
                      'be imported.*does not apply its mmdeploy fixes'):
        assert compat.import_mmdeploy('mmdeploy.no_such_module') is None
    monkeypatch.setitem(sys.modules, 'mmdeploy', None)  # import refused
    assert not compat.mmdeploy_installed()


def test_static_export_and_inference_model(video, tiny_checkpoint, tmp_path):
    """``torch2onnx`` with the static config, then the reported call
    ``mmdeploy.apis.inference_model`` (its backend model is built with the
    data-preprocessor updater passed positionally)."""
    onnx_file = export(video, tiny_checkpoint, tmp_path, 'static')
    assert opset(onnx_file) == 11  # the deploy config's
    results = inference_model(model_config(), deploy_config('static'),
                              [onnx_file], video, 'cpu')
    expected, shape = pytorch_scores(model_config(), 'static',
                                     tiny_checkpoint, video)
    assert tuple(shape) == (3, 3, 8, 112, 112)  # 3 views of 8x112x112
    got = scores(results)
    assert got.shape == expected.shape == (1, 4)
    assert relative_difference(got, expected) < TOLERANCE
    # MMAction2 1.2.0's fields (what its AccMetric reads), and mmdeploy's
    assert results[0].pred_label.tolist() == [int(expected[0].argmax())]
    assert torch.equal(results[0].pred_scores.item, results[0].pred_score)


def test_dynamic_export_runs_other_shapes(video, tiny_checkpoint, tmp_path):
    """The dynamic config's file, exported at 3 views of 8x112x112, runs
    through mmdeploy's backend model at 2 views of 6x80x80 and at the traced
    shape, matching PyTorch at both."""
    onnx_file = export(video, tiny_checkpoint, tmp_path, 'dynamic')
    for pipeline, shape in ((dict(num_clips=2, clip_len=6, crop=80),
                             (2, 3, 6, 80, 80)), ({}, (3, 3, 8, 112, 112))):
        model_cfg = model_config(**pipeline)
        processor = build_task_processor(model_cfg, deploy_config('dynamic'),
                                         'cpu')
        backend_model = processor.build_backend_model(
            [onnx_file],
            data_preprocessor_updater=processor.update_data_preprocessor)
        data, _ = processor.create_input(video)
        assert tuple(data['inputs'][0].shape) == shape
        with torch.no_grad():
            got = scores(backend_model.test_step(data))
        expected, _ = pytorch_scores(model_cfg, 'dynamic', tiny_checkpoint,
                                     video)
        assert relative_difference(got, expected) < TOLERANCE


def test_static_file_refuses_other_shapes(video, tiny_checkpoint, tmp_path):
    """What the dynamic config is for: the static file keeps its shape."""
    onnx_file = export(video, tiny_checkpoint, tmp_path, 'static')
    model_cfg = model_config(num_clips=2)
    processor = build_task_processor(model_cfg, deploy_config('static'), 'cpu')
    backend_model = processor.build_backend_model([onnx_file])
    data, _ = processor.create_input(video)
    with pytest.raises(Exception, match='(?i)dimension|shape'):
        backend_model.test_step(data)


def test_export_needs_the_exporter_fix(video, tiny_checkpoint, tmp_path,
                                      monkeypatch):
    """With mmdeploy's own ``RewriterContext``, torch 2.13 exports with the
    dynamo exporter: without onnxscript the export fails as reported; with
    it, the file misses the deploy config's opset 11 (the exporter cannot
    convert to it and keeps its own)."""
    for name in ('__enter__', '__exit__'):
        monkeypatch.setattr(RewriterContext, name,
                            getattr(RewriterContext, name).__wrapped__)
    if importlib.util.find_spec('onnxscript') is None:
        with pytest.raises(ModuleNotFoundError, match='onnxscript'):
            export(video, tiny_checkpoint, tmp_path, 'static')
        assert not osp.exists(tmp_path / 'end2end.onnx')
    else:
        onnx_file = export(video, tiny_checkpoint, tmp_path, 'static')
        assert opset(onnx_file) != STATIC['onnx_config']['opset_version']


def opset(onnx_file):
    import onnx
    return {o.domain: o.version
            for o in onnx.load(onnx_file).opset_import}['']


def test_positional_updater_fails_without_the_fix(monkeypatch):
    """mmdeploy's own ``VideoRecognition.build_backend_model`` refuses the
    call ``inference_model`` makes; the patched one applies the updater."""
    processor = build_task_processor(model_config(), deploy_config('static'),
                                     'cpu')
    patched = VideoRecognition.build_backend_model
    monkeypatch.setattr(VideoRecognition, 'build_backend_model',
                        patched.__wrapped__)
    with pytest.raises(TypeError, match='positional argument'):
        processor.build_backend_model(['end2end.onnx'],
                                      processor.update_data_preprocessor)
    monkeypatch.setattr(VideoRecognition, 'build_backend_model', patched)

    seen = []

    def updater(data_preprocessor):
        seen.append(data_preprocessor.to_dict())
        return dict(data_preprocessor, std=[1.0, 1.0, 1.0])

    class Stop(Exception):
        pass

    def build_model(*args, data_preprocessor, **kwargs):
        raise Stop(data_preprocessor)

    monkeypatch.setattr(
        'mmdeploy.codebase.mmaction.deploy.video_recognition_model.'
        'build_video_recognition_model', build_model)
    with pytest.raises(Stop) as built:
        processor.build_backend_model(['end2end.onnx'], updater)
    assert seen and seen[0]['std'] == [64.0, 64.0, 64.0]
    assert built.value.args[0]['std'] == [1.0, 1.0, 1.0]
    # the task's config is left as it was
    assert processor.model_cfg.model.data_preprocessor.std == [64.0] * 3


def test_visualize_draws_pytorch_results(video, tiny_checkpoint, tmp_path):
    """The end of ``tools/deploy.py``: ``visualize`` of an MMAction2 1.2.0
    result (``pred_score`` only) writes the video; mmdeploy's own warns and
    writes nothing."""
    processor = build_task_processor(model_config(), deploy_config('static'),
                                     'cpu')
    model = processor.build_pytorch_model(tiny_checkpoint)
    data, _ = processor.create_input(video)
    with torch.no_grad():
        result = model.test_step(data)[0]
    assert 'pred_scores' not in result
    unpatched = VideoRecognition.visualize.__wrapped__
    # window_name: as visualize_model passes it (mmengine wants a name)
    unpatched(processor, video, result.clone(), str(tmp_path / 'own.mp4'),
              window_name='pytorch')
    assert not (tmp_path / 'own.mp4').exists()
    processor.visualize(video, result, str(tmp_path / 'fixed.mp4'),
                        window_name='pytorch')
    assert (tmp_path / 'fixed.mp4').stat().st_size > 0


def test_fx_wrap_inside_the_rewriter_context(monkeypatch):
    """A ``torch.fx.wrap`` registered inside mmdeploy's context (as the
    dynamo exporter's modules do on first import) is undone on exit; with
    mmdeploy's own ``FunctionRewriter.exit`` leaving raises KeyError: -1
    (shown on a rewriter with nothing registered, so that the failed exit
    leaves no function rewritten)."""
    from mmdeploy.core.rewriters.function_rewriter import FunctionRewriter
    from torch.fx import _symbolic_trace
    registered = _symbolic_trace._wrapped_fns_to_patch

    def fx_wrap_at_module_level():
        scope = {}
        exec('import torch.fx\ntorch.fx.wrap("len")', scope)
        return (id(scope), 'len')

    with RewriterContext(backend='onnxruntime'):
        key = fx_wrap_at_module_level()
        assert key in registered
    assert key not in registered

    for name in ('enter', 'exit'):
        monkeypatch.setattr(FunctionRewriter, name,
                            getattr(FunctionRewriter, name).__wrapped__)
    rewriter = FunctionRewriter()
    rewriter.enter()
    key = fx_wrap_at_module_level()
    try:
        with pytest.raises(KeyError, match='-1'):
            rewriter.exit()
    finally:
        registered.pop(key, None)


SPAWNED_EXPORT = textwrap.dedent('''
    import sys
    from torch.multiprocessing import set_start_method
    from mmdeploy.apis import torch2onnx
    from mmdeploy.apis.core import PIPELINE_MANAGER

    set_start_method('spawn', force=True)
    PIPELINE_MANAGER.enable_multiprocess(True, [torch2onnx])
    video, work_dir, deploy_cfg, model_cfg, checkpoint = sys.argv[1:]
    torch2onnx(video, work_dir, 'end2end.onnx', deploy_cfg, model_cfg,
               checkpoint, device='cpu')
    assert 'csn_plugin' not in sys.modules, 'imported in this process'
''')


def test_spawned_export_like_deploy_tool(video, tiny_checkpoint, tmp_path):
    """``tools/deploy.py``'s route: config files, the export in a spawned
    process, the plugin imported there by ``custom_imports`` alone."""
    deploy_file, model_file = tmp_path / 'deploy.py', tmp_path / 'model.py'
    deploy_config('dynamic').dump(str(deploy_file))
    model_config().dump(str(model_file))  # custom_imports included
    done = subprocess.run(
        [sys.executable, '-c', SPAWNED_EXPORT, video, str(tmp_path),
         str(deploy_file), str(model_file), tiny_checkpoint],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'onnxscript' not in done.stderr
    assert osp.isfile(tmp_path / 'end2end.onnx')

