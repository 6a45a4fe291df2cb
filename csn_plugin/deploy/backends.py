"""Run exported models: onnxruntime and OpenVINO sessions, and
:class:`ExportedRecognizer`, which puts one into mmengine's test loop.

Both engines take the exported graph's ``[batch, views, C, T, H, W]`` clips
and return each view's class scores. They run on as many threads as PyTorch
(``torch.get_num_threads()``, i.e. ``OMP_NUM_THREADS``), so that they compare
fairly with it. OpenVINO runs in fp32 (``INFERENCE_PRECISION_HINT='f32'``):
on CPUs with bf16 support its default would be bf16.
"""
import importlib
import os.path as osp

import numpy as np
import torch
from mmengine.model import BaseModel

from ..compat.openvino_signal_stack import install_openvino_signal_stack_fix
from ..registry import MODELS

__all__ = [
    'BACKENDS', 'import_engine', 'OnnxRuntimeSession', 'OpenVINOSession',
    'open_session', 'save_openvino_ir', 'compare_with_pytorch',
    'ExportedRecognizer'
]

#: backend -> file suffixes it runs
BACKENDS = {'onnxruntime': ('.onnx', ), 'openvino': ('.onnx', '.xml')}


def import_engine(name):
    """Import an inference engine of the ``deploy`` extra, or say how to
    install it. OpenVINO comes with
    :func:`~csn_plugin.compat.openvino_signal_stack.install_openvino_signal_stack_fix`
    applied."""
    try:
        engine = importlib.import_module(name)
    except ImportError as e:
        raise ImportError(
            f'{name} is not installed; install the deploy extra: '
            f'pip install "csn_plugin[deploy]"') from e
    if name == 'openvino':
        install_openvino_signal_stack_fix(engine)
    return engine


def check_model_file(model_file, backend):
    """Raise unless ``backend`` is known, runs files like ``model_file``
    and ``model_file`` exists."""
    if backend not in BACKENDS:
        raise ValueError(f'unknown backend {backend!r}; choose from '
                         f'{", ".join(BACKENDS)}')
    if not model_file.endswith(BACKENDS[backend]):
        raise ValueError(f'{backend} runs {" or ".join(BACKENDS[backend])} '
                         f'files, not {model_file}')
    if not osp.isfile(model_file):
        raise FileNotFoundError(f'model file not found: {model_file}')


class OnnxRuntimeSession:
    """An ONNX file on onnxruntime's CPU execution provider.

    Args:
        model_file (str): The ``.onnx`` file.
        num_threads (int, optional): Intra-op threads. Defaults to
            ``torch.get_num_threads()``.
    """

    def __init__(self, model_file, num_threads=None):
        ort = import_engine('onnxruntime')
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        self.session = ort.InferenceSession(
            model_file, options, providers=['CPUExecutionProvider'])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, clips):
        """Outputs (a list of arrays) for ``clips``, a float32 array."""
        return self.session.run(None, {self.input_name: clips})


class OpenVINOSession:
    """An ONNX file (read by ``openvino.convert_model``) or OpenVINO IR on
    OpenVINO's CPU plugin.

    Args:
        model_file (str): The ``.onnx`` or ``.xml`` file.
        num_threads (int, optional): Inference threads. Defaults to
            ``torch.get_num_threads()``.
        precision (str): ``INFERENCE_PRECISION_HINT``: ``'f32'`` (the
            default), or ``'bf16'`` on CPUs that have it.
    """

    def __init__(self, model_file, num_threads=None, precision='f32'):
        ov = import_engine('openvino')
        core = ov.Core()
        if model_file.endswith('.xml'):
            model = core.read_model(model_file)
        else:
            model = ov.convert_model(model_file)
        threads = num_threads or torch.get_num_threads()
        self.compiled = core.compile_model(
            model, 'CPU', {
                'INFERENCE_NUM_THREADS': threads,
                'INFERENCE_PRECISION_HINT': precision,
                'PERFORMANCE_HINT': 'LATENCY',
            })
        self.request = self.compiled.create_infer_request()
        self.output_names = [o.any_name for o in self.compiled.outputs]

    def __call__(self, clips):
        """Outputs (a list of arrays) for ``clips``, a float32 array."""
        self.request.infer([clips])
        return [
            self.request.get_output_tensor(i).data.copy()
            for i in range(len(self.output_names))
        ]


def open_session(model_file, backend, num_threads=None):
    """An :class:`OnnxRuntimeSession` or :class:`OpenVINOSession`."""
    check_model_file(model_file, backend)
    if backend == 'onnxruntime':
        return OnnxRuntimeSession(model_file, num_threads)
    return OpenVINOSession(model_file, num_threads)


def save_openvino_ir(onnx_file, xml_file):
    """Convert an ONNX file to OpenVINO IR (``.xml`` and ``.bin``), weights
    kept in fp32."""
    ov = import_engine('openvino')
    if not xml_file.endswith('.xml'):
        raise ValueError(f'OpenVINO IR is an .xml file (and a .bin beside '
                         f'it), not {xml_file}')
    ov.save_model(ov.convert_model(onnx_file), xml_file,
                  compress_to_fp16=False)


@MODELS.register_module()
class ExportedRecognizer(BaseModel):
    """A recognizer exported by ``csn_plugin.tools.export`` (or quantized
    by ``csn_plugin.tools.quantize``), run by onnxruntime or OpenVINO.

    It returns the data samples of ``Recognizer3D``'s test path, so that
    mmengine's test loop, MMAction2's metrics and the plugin's
    ``ClassScoreDump`` work unchanged: ``data_preprocessor`` runs in
    PyTorch, the engine computes each view's class scores, and the config's
    head combines the views (``average_clips``) and sets the predictions
    (``BaseHead.predict_by_feat``). The head's weights are not used.
    ``mim test csn_plugin CONFIG -C MODEL --backend ...`` builds it from the
    config's ``cls_head`` and ``data_preprocessor``.

    Args:
        model_file (str): ``.onnx`` file, or OpenVINO ``.xml`` for
            ``backend='openvino'``.
        backend (str): ``'onnxruntime'`` or ``'openvino'``.
        cls_head (dict): The config's head.
        data_preprocessor (dict, optional): The config's data preprocessor.
        test_cfg (dict, optional): The config's ``model.test_cfg``: with
            ``max_testing_views``, the views of a batch go through the
            engine that many at a time, as ``Recognizer3D`` does (for 30
            views of ir-CSN-152 at 32x256x256 at once, one feature map of
            the first stage alone takes 4 GB).
        num_threads (int, optional): Engine threads. Defaults to PyTorch's.
        init_cfg (dict, optional): Unused; for mmengine.
    """

    def __init__(self,
                 model_file,
                 backend='onnxruntime',
                 cls_head=None,
                 data_preprocessor=None,
                 test_cfg=None,
                 num_threads=None,
                 init_cfg=None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='ActionDataPreprocessor')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if cls_head is None:
            raise KeyError('ExportedRecognizer needs the config\'s cls_head '
                           '(for num_classes and average_clips)')
        self.model_file = model_file
        self.backend = backend
        self.session = open_session(model_file, backend, num_threads)
        if self.session.output_names[0] != 'scores':
            raise ValueError(
                f'{model_file} returns {self.session.output_names}, not class '
                f'scores: it was exported with --backbone-only')
        self.cls_head = MODELS.build(cls_head)
        self.max_testing_views = (test_cfg or {}).get('max_testing_views')

    def class_scores(self, inputs):
        """Each view's class scores, ``[batch * views, num_classes]``."""
        if inputs.dim() != 6:
            raise ValueError(f'{self.model_file} takes [batch, views, C, T, '
                             f'H, W] clips (format_shape NCTHW), got shape '
                             f'{tuple(inputs.shape)}')
        clips = inputs.detach().cpu().float().numpy()
        step = self.max_testing_views or clips.shape[1]
        scores = torch.from_numpy(np.concatenate([
            self.session(np.ascontiguousarray(clips[:, i:i + step]))[0]
            for i in range(0, clips.shape[1], step)
        ], axis=1))
        if scores.shape[-1] != self.cls_head.num_classes:
            raise ValueError(
                f'{self.model_file} gives {scores.shape[-1]} class scores; '
                f'the config\'s head has num_classes='
                f'{self.cls_head.num_classes}')
        return scores.flatten(0, 1).to(inputs.device)

    def forward(self, inputs, data_samples=None, mode='predict'):
        if mode == 'tensor':
            return self.class_scores(inputs)
        if mode == 'predict':
            return self.cls_head.predict_by_feat(
                self.class_scores(inputs), data_samples)
        raise RuntimeError(f'{type(self).__name__} only runs inference '
                           f"(mode 'predict' or 'tensor'), not {mode!r}")


def compare_with_pytorch(session, graph, clips):
    """Largest relative difference of ``session``'s outputs from
    ``graph``'s (PyTorch, eval) on ``clips``."""
    from .export import max_relative_diff
    with torch.no_grad():
        expected = graph(clips)
    got = session(np.ascontiguousarray(clips.numpy()))
    expected = expected if isinstance(expected, tuple) else (expected, )
    return max_relative_diff(got, [e.numpy() for e in expected])
