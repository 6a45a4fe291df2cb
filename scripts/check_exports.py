"""Export every model of configs/_base_/models to ONNX and compare
onnxruntime and OpenVINO with PyTorch (docs/deploy.md).

    python scripts/check_exports.py [--width 8] [--shape 4 48 48]

CSN models are built at ``--width`` base channels (the graph's structure
does not depend on it), SEVNet at its own widths; weights are random with
BN statistics of a random clip. Each is traced at ``1x2x3xTxHxW`` and
checked at ``2x1x3x(T+2)x(H+16)x(W-8)``, so the dynamic axes are checked
too. Exits 1 if any relative difference exceeds 1e-4.
"""
import argparse
import glob
import os.path as osp
import sys
import tempfile

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import csn_plugin  # noqa: F401  (registers the plugin's models)
from csn_plugin.deploy.backends import compare_with_pytorch, open_session
from csn_plugin.deploy.export import RecognizerGraph, export_onnx
from mmaction.registry import MODELS

MODELS_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                      'configs', '_base_', 'models')


def small_model(config, width, shape):
    cfg = Config.fromfile(config).model
    backbone = cfg.backbone
    if backbone.type != 'SEVNet':
        expansion = 1 if backbone.depth in (18, 34) else 4
        backbone.base_channels = width
        cfg.cls_head.in_channels = width * 8 * expansion
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    with torch.no_grad():  # BN statistics of a random clip
        model.backbone(torch.randn(2, 3, *shape))
    return model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--width', type=int, default=8)
    parser.add_argument('--shape', type=int, nargs=3, default=(4, 48, 48),
                        metavar=('T', 'H', 'W'))
    args = parser.parse_args()
    init_default_scope('mmaction')
    t, h, w = args.shape
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for config in sorted(glob.glob(osp.join(MODELS_DIR, '*.py'))):
            name = osp.splitext(osp.basename(config))[0]
            graph = RecognizerGraph(small_model(config, args.width,
                                                args.shape)).eval()
            onnx_file = osp.join(tmp, f'{name}.onnx')
            export_onnx(graph, torch.randn(1, 2, 3, t, h, w), onnx_file)
            clips = torch.randn(2, 1, 3, t + 2, h + 16, w - 8)
            diffs = [
                compare_with_pytorch(open_session(onnx_file, b), graph, clips)
                for b in ('onnxruntime', 'openvino')
            ]
            worst = max(worst, *diffs)
            print(f'{name:10s} onnxruntime {diffs[0]:.1e}  openvino '
                  f'{diffs[1]:.1e}', flush=True)
    print(f'largest relative difference: {worst:.1e}')
    sys.exit(int(worst > 1e-4))


if __name__ == '__main__':
    main()
