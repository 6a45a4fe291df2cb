"""Post-training static int8 quantization of an exported recognizer.

Calibration clips come from the config's training set, decoded and
normalized as the test pipeline's views are (the validation pipeline: one
centre clip a video, so no augmentation skews the ranges) and spread evenly
over the set. Two engines quantize the fp32 ONNX graph:

- ``openvino`` (the default): NNCF's post-training quantization of the
  OpenVINO model (symmetric int8 weights per channel and activations per
  tensor, with bias correction), saved as OpenVINO IR. OpenVINO's CPU plugin
  runs int8 convolutions, the depthwise 3D ones included, with oneDNN.
- ``onnxruntime``: onnxruntime's static QDQ quantization (int8 weights per
  channel, uint8 activations, min-max calibration), saved as ONNX.

``docs/deploy.md`` has the measurements behind the default.
"""
import os.path as osp
import tempfile

import numpy as np
import torch

from .backends import import_engine
from .export import INPUT_NAME

__all__ = ['QUANTIZERS', 'calibration_clips', 'check_request', 'quantize']


def _calibration_dataset_cfg(cfg):
    """The training set with the validation (else test) pipeline."""
    train = cfg.get('train_dataloader', {}).get('dataset')
    if train is None:
        raise KeyError('the config has no train_dataloader.dataset to '
                       'calibrate on')
    for split in ('val_dataloader', 'test_dataloader'):
        pipeline = cfg.get(split, {}).get('dataset', {}).get('pipeline')
        if pipeline:
            break
    else:
        raise KeyError('the config has no val or test pipeline to decode '
                       'calibration clips with')
    dataset = train.copy()
    dataset.pipeline = pipeline
    dataset.test_mode = True
    return dataset


def calibration_clips(cfg, num_clips):
    """``num_clips`` clips of the config's training set, each a float32
    ``[1, views, C, T, H, W]`` array as the exported graph takes them.

    Raises:
        ValueError: If ``num_clips`` is not positive, or the set has fewer
            videos.
    """
    from mmaction.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate
    if num_clips < 1:
        raise ValueError(f'--calib-clips must be at least 1, got {num_clips}')
    dataset = DATASETS.build(_calibration_dataset_cfg(cfg))
    if len(dataset) < num_clips:
        raise ValueError(
            f'--calib-clips {num_clips} asks for more clips than the '
            f'training set has videos: it has {len(dataset)} (one clip a '
            f'video), so pass --calib-clips {len(dataset)} or fewer')
    preprocessor = MODELS.build(
        cfg.model.get('data_preprocessor',
                      dict(type='ActionDataPreprocessor')))
    clips = []
    with torch.no_grad():
        for index in np.linspace(0, len(dataset) - 1, num_clips).round():
            data = preprocessor(pseudo_collate([dataset[int(index)]]), False)
            clips.append(np.ascontiguousarray(data['inputs'].float().numpy()))
    return clips


def quantize_openvino(onnx_file, clips, out_file):
    """NNCF post-training quantization; writes OpenVINO IR ``out_file``."""
    ov = import_engine('openvino')
    nncf = import_engine('nncf')
    model = ov.convert_model(onnx_file)
    quantized = nncf.quantize(
        model, nncf.Dataset(clips), subset_size=len(clips))
    ov.save_model(quantized, out_file, compress_to_fp16=False)


class _ClipReader:
    """onnxruntime's calibration data reader over a list of clips."""

    def __init__(self, input_name, clips):
        self.input_name = input_name
        self.clips = iter(clips)

    def get_next(self):
        clip = next(self.clips, None)
        return None if clip is None else {self.input_name: clip}


def quantize_onnxruntime(onnx_file, clips, out_file):
    """onnxruntime static QDQ quantization; writes ONNX ``out_file``.

    The graph is pre-processed first (onnxruntime's graph optimizations),
    which turns the exporter's shared constants (``Identity`` nodes on
    initializers) back into the initializers the quantizer expects.
    """
    import_engine('onnxruntime')
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    with tempfile.TemporaryDirectory() as tmp:
        prepared = osp.join(tmp, 'prepared.onnx')
        # Its symbolic shape inference cannot follow the dynamic reshapes.
        quant_pre_process(onnx_file, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared,
            out_file,
            _ClipReader(INPUT_NAME, clips),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax)
        # No CalibMaxIntermediateOutputs: onnxruntime's MinMaxCalibrater
        # empties its list of collected outputs whenever it reaches that
        # size without merging them into the ranges, so every full batch
        # was lost and a count that is a multiple of it calibrated on
        # nothing ("No data is collected."). Without the option it keeps
        # one min and one max per calibrated tensor and clip (the graph it
        # runs reduces each tensor), a few kB a clip.


#: backend -> (quantizer, suffix of the file it writes)
QUANTIZERS = {
    'openvino': (quantize_openvino, '.xml'),
    'onnxruntime': (quantize_onnxruntime, '.onnx'),
}


def check_request(out_file, backend):
    """Raise ``ValueError`` unless ``backend`` quantizes and ``out_file`` is
    the kind of file it writes."""
    if backend not in QUANTIZERS:
        raise ValueError(f'unknown quantization backend {backend!r}; choose '
                         f'from {", ".join(QUANTIZERS)}')
    suffix = QUANTIZERS[backend][1]
    if not out_file.endswith(suffix):
        raise ValueError(f'{backend} int8 models are {suffix} files, not '
                         f'{out_file}')


def quantize(onnx_file, clips, out_file, backend='openvino'):
    """Quantize the fp32 graph ``onnx_file`` to int8, calibrated on
    ``clips`` (any number from 1; every clip counts), for ``backend``;
    writes ``out_file``."""
    check_request(out_file, backend)
    clips = list(clips)
    if not clips:
        raise ValueError('no calibration clips: quantization needs at least '
                         'one')
    QUANTIZERS[backend][0](onnx_file, clips, out_file)
