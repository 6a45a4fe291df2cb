"""mmdeploy 1.3.1's mmaction codebase with MMAction2 1.2.0.

Problems in ``mmdeploy/codebase/mmaction/deploy/``:

- **``VideoRecognition.build_backend_model``.** mmdeploy's callers build a
  backend model with ``build_backend_model(model_files,
  data_preprocessor_updater)``: ``mmdeploy.apis.inference_model`` passes the
  updater positionally, ``visualize_model`` (the end of ``tools/deploy.py``)
  and ``tools/test.py`` by keyword. Every task takes it but the mmaction
  one, ``build_backend_model(self, model_files=None, **kwargs)``: the
  positional call fails with ``TypeError: VideoRecognition.
  build_backend_model() takes from 1 to 2 positional arguments but 3 were
  given``, and the keyword one is swallowed by ``**kwargs`` and never
  applied.
- **The backend model's predictions.** ``End2EndModel.forward`` stores the
  class scores as ``pred_scores`` (a ``LabelData``), the field of MMAction2
  1.0. MMAction2 1.2.0's ``ActionDataSample`` keeps them in ``pred_score``
  and ``pred_label`` (``BaseHead.predict_by_feat``), which its
  ``AccMetric`` reads, so ``tools/test.py`` of mmdeploy cannot evaluate an
  exported model; the other way round, ``VideoRecognition.visualize`` reads
  ``pred_scores`` and so draws nothing for the PyTorch model at the end of
  ``tools/deploy.py`` (it warns "Please install moviepy and decord").

:func:`install_mmdeploy_video_recognition` wraps ``build_backend_model`` so
that it takes ``data_preprocessor_updater`` either way and builds the
backend model with the data preprocessor config the updater returns (the
task's model config is left as it was), and ``End2EndModel.forward`` so
that each data sample also gets MMAction2 1.2.0's ``pred_score`` and
``pred_label`` (the arg-max class), keeping ``pred_scores``, and
``visualize`` so that a result with only ``pred_score`` gets ``pred_scores``
too.
"""
import functools

from .mmdeploy_onnx_export import import_mmdeploy

__all__ = ['install_mmdeploy_video_recognition']


def _with_updater(build_backend_model):

    @functools.wraps(build_backend_model)
    def wrapped(self, model_files=None, data_preprocessor_updater=None,
                **kwargs):
        if data_preprocessor_updater is None:
            return build_backend_model(self, model_files, **kwargs)
        model = self.model_cfg.model
        kept = model.data_preprocessor
        model.data_preprocessor = data_preprocessor_updater(kept)
        try:
            return build_backend_model(self, model_files, **kwargs)
        finally:
            model.data_preprocessor = kept

    wrapped.__csn_patched__ = True
    return wrapped


def _with_pred_score(forward):

    @functools.wraps(forward)
    def wrapped(self, *args, **kwargs):
        data_samples = forward(self, *args, **kwargs)
        for sample in data_samples:
            if 'pred_scores' in sample and 'pred_score' not in sample:
                score = sample.pred_scores.item
                sample.set_pred_score(score)
                sample.set_pred_label(score.argmax(dim=-1, keepdim=True))
        return data_samples

    wrapped.__csn_patched__ = True
    return wrapped


def _with_pred_scores(visualize):

    @functools.wraps(visualize)
    def wrapped(self, image, result, *args, **kwargs):
        if 'pred_score' in result and 'pred_scores' not in result:
            from mmengine.structures import LabelData
            result.pred_scores = LabelData(item=result.pred_score)
        return visualize(self, image, result, *args, **kwargs)

    wrapped.__csn_patched__ = True
    return wrapped


def install_mmdeploy_video_recognition():
    """Patch ``VideoRecognition.build_backend_model`` and ``visualize`` and
    ``End2EndModel.forward`` of mmdeploy's mmaction codebase; does nothing
    without mmdeploy. Safe to call more than once.

    Returns:
        bool: Whether they were patched now.
    """
    task_module = import_mmdeploy(
        'mmdeploy.codebase.mmaction.deploy.video_recognition')
    if task_module is None:
        return False
    from mmdeploy.codebase.mmaction.deploy.video_recognition_model import \
        End2EndModel
    task = task_module.VideoRecognition
    if getattr(task.build_backend_model, '__csn_patched__', False):
        return False
    task.build_backend_model = _with_updater(task.build_backend_model)
    task.visualize = _with_pred_scores(task.visualize)
    End2EndModel.forward = _with_pred_score(End2EndModel.forward)
    return True
