"""Export a recognizer to ONNX (and OpenVINO IR).

Usage::

    python -m csn_plugin.tools.export CONFIG CHECKPOINT OUT.onnx \\
        [--backbone-only] [--opset 17] [--shape T H W] \\
        [--openvino-ir OUT.xml] [--no-verify] [--cfg-options KEY=VALUE ...]

The graph takes ``clips`` of shape ``[batch, views, C, T, H, W]``
(mmdeploy's layout; all but C dynamic) and returns ``scores``,
``[batch, views, num_classes]``: each view's raw class scores, which
``mim test csn_plugin ... --backend`` averages as ``--average-clips`` says.
``--backbone-only`` returns the backbone's ``features`` instead.

Unless ``--no-verify``, the file runs in onnxruntime (and the IR in
OpenVINO) on random clips of the config's test shape and of another batch,
view count and size, and the largest relative difference from PyTorch is
printed; above ``--tolerance`` (1e-4) the tool fails.
"""
import argparse
import sys

import torch
from mmengine.config import DictAction

from csn_plugin.deploy.backends import (compare_with_pytorch, open_session,
                                        save_openvino_ir)
from csn_plugin.deploy.export import (DEFAULT_OPSET, RecognizerGraph,
                                      build_recognizer, check_opset,
                                      clip_shape_of, export_onnx, read_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a recognizer (or its backbone) to ONNX.')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint of that config')
    parser.add_argument('out', help='ONNX file to write')
    parser.add_argument(
        '--backbone-only', action='store_true',
        help='export the backbone: features instead of class scores')
    parser.add_argument(
        '--opset', type=int, default=DEFAULT_OPSET,
        help=f'ONNX opset (default {DEFAULT_OPSET})')
    parser.add_argument(
        '--shape', type=int, nargs=3, metavar=('T', 'H', 'W'),
        help='clip shape to trace and verify with; defaults to the '
        "config's test pipeline (clip_len, crop size)")
    parser.add_argument(
        '--openvino-ir', metavar='OUT.xml',
        help='also save OpenVINO IR (.xml and .bin, fp32 weights)')
    parser.add_argument(
        '--no-verify', action='store_true',
        help='skip running the exported file against PyTorch')
    parser.add_argument(
        '--tolerance', type=float, default=1e-4,
        help='largest relative difference from PyTorch that passes '
        '(default 1e-4)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
        help='override config entries, e.g. model.backbone.depth=50')
    args = parser.parse_args(argv)
    if not args.out.endswith('.onnx'):
        parser.error(f'the output is an .onnx file, not {args.out}')
    return args


def verification_clips(shape, channels=3):
    """Two random batches: ``[1, 2, C, T, H, W]`` at the traced shape and
    ``[2, 1, C, T, H + 16, W + 32]``, to check the dynamic axes too."""
    t, h, w = shape
    gen = torch.Generator().manual_seed(0)
    return [
        torch.randn(1, 2, channels, t, h, w, generator=gen),
        torch.randn(2, 1, channels, t, h + 16, w + 32, generator=gen)
    ]


class VerificationError(RuntimeError):
    """The exported model's outputs differ from PyTorch's."""


def verify(graph, model_file, backend, clips, tolerance):
    """Print the largest relative difference of ``backend`` running
    ``model_file`` from PyTorch; raise above ``tolerance``."""
    session = open_session(model_file, backend)
    worst = 0.0
    for x in clips:
        diff = compare_with_pytorch(session, graph, x)
        print(f'{backend} vs PyTorch, input {list(x.shape)}: max relative '
              f'difference {diff:.2e}')
        worst = max(worst, diff)
    if worst > tolerance:
        raise VerificationError(
            f'{model_file} differs from PyTorch by {worst:.2e} (relative) '
            f'under {backend}, above the tolerance {tolerance:.0e}')
    return worst


def main(argv=None):
    args = parse_args(argv)
    check_opset(args.opset)
    cfg = read_config(args.config, args.cfg_options)
    shape = tuple(args.shape) if args.shape else clip_shape_of(cfg)
    graph = RecognizerGraph(
        build_recognizer(cfg, args.checkpoint), args.backbone_only).eval()
    channels = getattr(graph.backbone, 'in_channels', 3)
    clips = verification_clips(shape, channels)
    outputs = export_onnx(graph, clips[0], args.out, args.opset)
    print(f'exported {args.out}: input clips [batch, views, {channels}, '
          f'{"x".join(map(str, shape))} (T, H, W dynamic)] -> '
          f'{", ".join(outputs)} (opset {args.opset})')
    if args.openvino_ir:
        save_openvino_ir(args.out, args.openvino_ir)
        print(f'saved OpenVINO IR {args.openvino_ir}')
    if not args.no_verify:
        verify(graph, args.out, 'onnxruntime', clips, args.tolerance)
        if args.openvino_ir:
            verify(graph, args.openvino_ir, 'openvino', clips,
                   args.tolerance)


def cli(argv=None):
    """:func:`main`, with bad input reported in one line, no traceback."""
    try:
        main(argv)
    except (FileNotFoundError, KeyError, ValueError,
            VerificationError) as e:
        sys.exit(f'error: {e.args[0] if e.args else e}')


if __name__ == '__main__':
    cli()
