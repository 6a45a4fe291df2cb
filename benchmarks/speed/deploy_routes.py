"""The deployment routes of ``benchmarks/deploy_speed.py``: the whole
recognizer (backbone and I3D head) on one clip, by MMAction2's model, the
plugin's PyTorch paths, the exported model on onnxruntime and OpenVINO, and
int8 on each engine."""
import contextlib
import copy
import os.path as osp
import sys
import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from csn_plugin.deploy.backends import open_session
from csn_plugin.deploy.export import (RecognizerGraph, export_onnx,
                                      replace_global_pools)
from csn_plugin.deploy.quantize import quantize
from csn_plugin.models.acceleration import CompiledInference, native_bf16
from mmaction.models.backbones.resnet3d_csn import \
    ResNet3dCSN as BuiltinCSN  # replaced in MODELS, not here
from mmaction.registry import MODELS

from .cases import MMACTION_CSN, calibrate

#: clips of random data that calibrate the int8 routes of the table (speed
#: only; ``--mim-test`` calibrates on the training set and measures
#: accuracy)
CALIB_CLIPS = 8

#: route key -> label
ROUTES = {
    'builtin': 'MMAction2 built-in, eager',
    'deploy': 'plugin deploy, fp32 (--compile never)',
    'deploy_compiled': 'plugin deploy + compile, fp32 (--compile always)',
    'deploy_bf16': 'plugin deploy, bf16',
    'ort': 'onnxruntime, fp32',
    'ov': 'OpenVINO, fp32',
    'ov_int8': 'OpenVINO int8 (NNCF)',
    'ort_int8': 'onnxruntime int8 (QDQ)',
    'fx_int8': 'PyTorch int8 (FX, x86)',
}
#: the exported files of the engine routes: key -> (file, backend)
ENGINE_FILES = {
    'ort': ('model.onnx', 'onnxruntime'),
    'ov': ('model.onnx', 'openvino'),
    'ov_int8': ('int8.xml', 'openvino'),
    'ort_int8': ('int8.onnx', 'onnxruntime'),
}


@dataclass
class Case:
    name: str
    depth: int
    shape: tuple  # (N, C, T, H, W)

    @property
    def clip_shape(self):
        """The recognizer's input: one view of one clip."""
        return (1, 1) + self.shape[1:]


def cases_for(quick):
    if quick:
        return [Case('ir-CSN-50', 50, (1, 3, 8, 64, 64))]
    return [Case('ir-CSN-152', 152, (1, 3, 32, 224, 224)),
            Case('ir-CSN-50', 50, (1, 3, 16, 112, 112))]


def route_keys():
    """The routes of a run; bf16 only where this CPU has native bf16."""
    return [k for k in ROUTES if k != 'deploy_bf16' or native_bf16()]


def recognizer_cfg(backbone_type, depth):
    return dict(
        type='Recognizer3D',
        backbone=dict(type=backbone_type, depth=depth, pretrained=None,
                      **MMACTION_CSN),
        cls_head=dict(type='I3DHead', num_classes=400, in_channels=2048,
                      average_clips='prob'))


def build_models(case, state_file=None):
    """MMAction2's recognizer and the plugin's, with the same weights:
    calibrated (:func:`.cases.calibrate`) or loaded from ``state_file``."""
    torch.manual_seed(0)
    builtin = MODELS.build(recognizer_cfg(BuiltinCSN, case.depth))
    if state_file:
        builtin.load_state_dict(torch.load(state_file), strict=True)
    else:
        builtin.init_weights()
        n, c, t, h, w = case.shape
        calibrate(builtin.backbone, (2, c, min(t, 8), min(h, 112),
                                     min(w, 112)))
    plugin = MODELS.build(recognizer_cfg('ResNet3dCSN', case.depth))
    plugin.load_state_dict(builtin.state_dict(), strict=True)
    builtin.eval()  # MMAction2's train() returns None
    return builtin, plugin.eval()


def calibration_clips(case):
    gen = torch.Generator().manual_seed(2)
    return [torch.randn(case.clip_shape, generator=gen)
            for _ in range(CALIB_CLIPS)]


def write_files(case, plugin, files):
    """The plugin's recognizer exported to ONNX and quantized for both
    engines, in ``files``."""
    onnx_file = osp.join(files, 'model.onnx')
    export_onnx(RecognizerGraph(copy.deepcopy(plugin)),
                torch.randn(case.clip_shape), onnx_file)
    clips = [c.numpy() for c in calibration_clips(case)]
    with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars
        quantize(onnx_file, clips, osp.join(files, 'int8.xml'), 'openvino')
        quantize(onnx_file, clips, osp.join(files, 'int8.onnx'),
                 'onnxruntime')


def plain_units(module):
    """Replace every ``ConvModule`` by ``nn.Sequential(Conv3d, BN, ReLU)``
    (plain PyTorch classes), in place: FX quantization maps module types
    exactly and cannot trace mmcv's ConvModule."""
    for name, child in list(module.named_children()):
        if isinstance(child, ConvModule):
            c = child.conv
            conv = nn.Conv3d(c.in_channels, c.out_channels, c.kernel_size,
                             c.stride, c.padding, c.dilation, c.groups,
                             c.bias is not None)
            conv.weight.data = c.weight.data.contiguous()
            if c.bias is not None:
                conv.bias.data = c.bias.data
            parts = [conv]
            parts += [child.norm] if child.with_norm else []
            parts += [child.activate] if child.with_activation else []
            setattr(module, name, nn.Sequential(*parts))
        else:
            plain_units(child)


class FxInt8(nn.Module):
    """The backbone quantized by PyTorch's FX post-training quantization
    (x86 engine), the head in fp32."""

    def __init__(self, recognizer, clips):
        super().__init__()
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
        torch.backends.quantized.engine = 'x86'
        backbone = copy.deepcopy(recognizer.backbone).eval()
        plain_units(backbone)
        body = nn.Sequential(
            backbone.conv1, backbone.maxpool,
            *[getattr(backbone, n) for n in backbone.res_layers]).eval()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # torch.ao deprecation notices
            prepared = prepare_fx(body, get_default_qconfig_mapping('x86'),
                                  (clips[0].flatten(0, 1), ))
            with torch.no_grad():
                for clip in clips:
                    prepared(clip.flatten(0, 1))
            self.body = convert_fx(prepared)
        self.cls_head = copy.deepcopy(recognizer.cls_head)
        replace_global_pools(self.cls_head)

    def forward(self, clips):
        batch, views = clips.shape[:2]
        x = self.cls_head(self.body(clips.flatten(0, 1)))
        return x.reshape((batch, views) + x.shape[1:])


def session_fn(model_file, backend):
    session = open_session(model_file, backend)
    return lambda x: torch.from_numpy(session(x.numpy())[0])


def make_route(key, case, builtin, plugin, files):
    """A function of the clip ``[1, 1, C, T, H, W]`` returning its class
    scores (float32), for route ``key``."""
    if key in ENGINE_FILES:
        name, backend = ENGINE_FILES[key]
        return session_fn(osp.join(files, name), backend)
    if key == 'builtin':
        graph = RecognizerGraph(builtin)
    elif key == 'fx_int8':
        graph = FxInt8(plugin, calibration_clips(case))
    else:  # the plugin's PyTorch paths
        plugin = copy.deepcopy(plugin)
        plugin.backbone.switch_to_deploy()
        if key == 'deploy_compiled':
            plugin.backbone = CompiledInference(plugin.backbone)
        graph = RecognizerGraph(plugin)
    graph.eval()
    bf16 = key == 'deploy_bf16'

    def run(x):
        with torch.no_grad(), torch.autocast('cpu', torch.bfloat16,
                                             enabled=bf16):
            return graph(x).float()

    return run
