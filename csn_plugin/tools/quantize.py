"""Post-training static int8 quantization of a recognizer.

Usage::

    python -m csn_plugin.tools.quantize CONFIG CHECKPOINT OUT \\
        --calib-clips N [--backend openvino|onnxruntime] \\
        [--cfg-options KEY=VALUE ...]

Exports the recognizer to fp32 ONNX (as ``csn_plugin.tools.export`` does),
calibrates on ``N`` clips of the config's training set and writes the int8
model: OpenVINO IR (``OUT.xml``, the default backend, NNCF) or ONNX
(``OUT.onnx``, onnxruntime's QDQ quantization). It then prints how far the
int8 scores are from fp32 on the calibration clips. Test it on the test set
as the fp32 export::

    mim test csn_plugin CONFIG -C OUT.xml --backend openvino
"""
import argparse
import os.path as osp
import sys
import tempfile

import numpy as np
import torch
from mmengine.config import DictAction

from csn_plugin.deploy.backends import open_session
from csn_plugin.deploy.export import (RecognizerGraph, build_recognizer,
                                      export_onnx, read_config,
                                      max_relative_diff)
from csn_plugin.deploy.quantize import (QUANTIZERS, calibration_clips,
                                        check_request, quantize)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Quantize a recognizer to int8 (post-training, static).')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint of that config')
    parser.add_argument(
        'out', help='int8 model to write: .xml (openvino) or .onnx '
        '(onnxruntime)')
    parser.add_argument(
        '--calib-clips', type=int, required=True, metavar='N',
        help='calibrate on N clips of the training set, spread over it')
    parser.add_argument(
        '--backend', choices=list(QUANTIZERS), default='openvino',
        help='engine that quantizes and runs the int8 model (default '
        'openvino)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
        help='override config entries')
    return parser.parse_args(argv)


def agreement(fp32_file, int8_file, backend, clips):
    """Top-1 agreement and largest relative score difference of the int8
    model with the fp32 one on ``clips``."""
    fp32 = open_session(fp32_file, 'onnxruntime')
    int8 = open_session(int8_file, backend)
    same, worst = 0, 0.0
    for clip in clips:
        expected, got = fp32(clip)[0], int8(clip)[0]
        same += int(np.array_equal(expected.argmax(-1), got.argmax(-1)))
        worst = max(worst, max_relative_diff(got, expected))
    return same, worst


def main(argv=None):
    args = parse_args(argv)
    check_request(args.out, args.backend)
    cfg = read_config(args.config, args.cfg_options)
    graph = RecognizerGraph(build_recognizer(cfg, args.checkpoint)).eval()
    clips = calibration_clips(cfg, args.calib_clips)
    print(f'{len(clips)} calibration clips of shape {list(clips[0].shape)} '
          f'from the training set')
    with tempfile.TemporaryDirectory() as tmp:
        fp32_file = osp.join(tmp, 'fp32.onnx')
        export_onnx(graph, torch.from_numpy(clips[0]), fp32_file)
        quantize(fp32_file, clips, args.out, args.backend)
        print(f'wrote {args.out} (int8, {args.backend})')
        same, worst = agreement(fp32_file, args.out, args.backend, clips)
    print(f'int8 vs fp32 on the calibration clips: same top-1 on {same} of '
          f'{len(clips)}, max relative score difference {worst:.2e}')


def cli(argv=None):
    """:func:`main`, with bad input reported in one line, no traceback."""
    try:
        main(argv)
    except (FileNotFoundError, KeyError, ValueError) as e:
        sys.exit(f'error: {e.args[0] if e.args else e}')


if __name__ == '__main__':
    cli()
