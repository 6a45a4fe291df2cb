"""Source networks and files for the converter tests, built independently of
the converter from the layouts the authors' code documents."""
import contextlib
import io
import pickle
import struct
import sys
import types
from collections import OrderedDict

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from torch.nn.modules.batchnorm import _BatchNorm

from csn_plugin.registry import MODELS

#: a clip small enough for fast tests, large enough for 2x2 stage-4 maps
CLIP = (1, 3, 8, 48, 48)


def randomize(model, seed=0):
    """Random conv/linear weights and BN state: small running variances
    make a wrong eps show, shifted means and biases a swapped key."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(
                    torch.randn(m.weight.shape, generator=gen) / fan_in**0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape,
                                                   generator=gen))
            elif isinstance(m, _BatchNorm):
                n = m.num_features
                m.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.02 + 0.5 * torch.rand(n, generator=gen))
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.2 * torch.randn(n, generator=gen))
                m.num_batches_tracked.fill_(7)
    return model.eval()


def max_relative_error(actual, expected):
    """``max|actual - expected| / max|expected|``."""
    assert actual.shape == expected.shape
    return ((actual - expected).abs().max() / expected.abs().max()).item()


# ------------------------------------------------------------------ VMZ


class VmzBottleneck(nn.Module):
    """torchvision's video ``Bottleneck`` as VMZ builds it: ``conv1`` =
    [1x1x1 conv, BN, ReLU]; ``conv2`` = [conv builder, BN, ReLU] where the
    builder is VMZ's ``Conv3DDepthwise`` (ir) or ``IPConv3DDepthwise`` = [1x1x1
    conv, BN, depthwise conv] (ip); ``conv3`` = [1x1x1 conv, BN]; stride on
    the 3x3x3 conv."""

    def __init__(self, inplanes, planes, mode, stride, downsample):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv3d(inplanes, planes, 1, bias=False),
            nn.BatchNorm3d(planes), nn.ReLU(inplace=True))
        depthwise = nn.Conv3d(planes, planes, 3, stride=stride, padding=1,
                              groups=planes, bias=False)
        builder = depthwise if mode == 'ir' else nn.Sequential(
            nn.Conv3d(planes, planes, 1, bias=False), nn.BatchNorm3d(planes),
            depthwise)
        self.conv2 = nn.Sequential(builder, nn.BatchNorm3d(planes),
                                   nn.ReLU(inplace=True))
        self.conv3 = nn.Sequential(
            nn.Conv3d(planes, planes * 4, 1, bias=False),
            nn.BatchNorm3d(planes * 4))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + shortcut)


class VmzCSN(nn.Module):
    """VMZ's PyTorch ir/ip-CSN: ``VideoResNet(block=Bottleneck,
    stem=BasicStem_Pool, layers=...)`` with every BN at eps 1e-3 and
    momentum 0.9, as ``vmz.models.utils._generic_resnet`` sets them."""

    def __init__(self, mode, layers, num_classes, width=64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, width, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
            nn.BatchNorm3d(width), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        inplanes = width
        for s, num_blocks in enumerate(layers):
            planes, stride = width * 2**s, (1 if s == 0 else 2)
            blocks = []
            for j in range(num_blocks):
                downsample = None
                if j == 0:  # every stage's first block changes shape
                    downsample = nn.Sequential(
                        nn.Conv3d(inplanes, planes * 4, 1, stride=stride,
                                  bias=False), nn.BatchNorm3d(planes * 4))
                blocks.append(
                    VmzBottleneck(inplanes, planes, mode,
                                  stride if j == 0 else 1, downsample))
                inplanes = planes * 4
            self.add_module(f'layer{s + 1}', nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.eps, m.momentum = 1e-3, 0.9

    def forward(self, x):
        x = self.stem(x)
        for s in range(1, 5):
            x = getattr(self, f'layer{s}')(x)
        return self.fc(self.avgpool(x).flatten(1))


def caffe2_blobs(model, mode):
    """The blobs VMZ's Caffe2 builders would have made for ``model``.

    Follows ``c2/lib/models/builder/video_model.py``: ``comp_count`` counts
    blocks over all stages; within a block ``comp_idx`` goes up at every
    ``add_conv`` and once more in ``add_channelwise_conv`` (ir's '3d-sep'),
    and BN blobs take the current ``comp_idx``; ip's '0.3d' adds a
    ``_middle`` 1x1x1 conv + BN before the channel-wise conv.
    """
    blobs = OrderedDict()

    def conv(name, m):
        blobs[f'{name}_w'] = m.weight

    def bn(name, m):
        for suffix, value in (('s', m.weight), ('b', m.bias),
                              ('rm', m.running_mean),
                              ('riv', m.running_var)):
            blobs[f'{name}_{suffix}'] = value

    conv('conv1', model.stem[0])
    bn('conv1_spatbn_relu', model.stem[1])
    comp_count = 0
    for s in range(1, 5):
        for block in getattr(model, f'layer{s}'):
            prefix = f'comp_{comp_count}'
            comp_idx = 1  # add_conv: the 1x1x1 conv
            conv(f'{prefix}_conv_{comp_idx}', block.conv1[0])
            bn(f'{prefix}_spatbn_{comp_idx}', block.conv1[1])
            comp_idx += 1  # add_conv: the 3x3x3 position
            if mode == 'ir':
                comp_idx += 1  # add_channelwise_conv counts again
                conv(f'{prefix}_conv_{comp_idx}', block.conv2[0])
            else:
                conv(f'{prefix}_conv_{comp_idx}_middle', block.conv2[0][0])
                bn(f'{prefix}_spatbn_{comp_idx}_middle', block.conv2[0][1])
                conv(f'{prefix}_conv_{comp_idx}', block.conv2[0][2])
            bn(f'{prefix}_spatbn_{comp_idx}', block.conv2[1])
            comp_idx += 1  # add_conv: the last 1x1x1 conv
            conv(f'{prefix}_conv_{comp_idx}', block.conv3[0])
            bn(f'{prefix}_spatbn_{comp_idx}', block.conv3[1])
            if block.downsample is not None:
                conv(f'shortcut_projection_{comp_count}', block.downsample[0])
                bn(f'shortcut_projection_{comp_count}_spatbn',
                   block.downsample[1])
            comp_count += 1
    blobs[f'last_out_L{model.fc.out_features}_w'] = model.fc.weight
    blobs[f'last_out_L{model.fc.out_features}_b'] = model.fc.bias
    return blobs


def as_numpy(blobs):
    return {k: v.detach().numpy().copy() for k, v in blobs.items()}


class Python2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle did, which wrote VMZ's ``.pkl`` files:
    text and bytes as byte strings (BINSTRING)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode('latin1') if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def python2_pickle(obj):
    """Bytes of ``obj`` as Python 2 pickled it, numpy 1 module names too."""
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue().replace(b'numpy._core.multiarray\n',
                                     b'numpy.core.multiarray\n')


# --------------------------------------------------------- PyTorchVideo


@contextlib.contextmanager
def stand_in_torchvision():
    """pytorchvideo's head module imports ``torchvision.ops.RoIAlign``; PyPI's
    torchvision does not load against this torch. A stand-in module lets
    ``pytorchvideo.models.csn`` import (its CSNs never use RoIAlign)."""
    torchvision = types.ModuleType('torchvision')
    ops = types.ModuleType('torchvision.ops')

    class RoIAlign(nn.Module):

        def __init__(self, *args, **kwargs):
            raise RuntimeError('stand-in torchvision: no RoIAlign here')

    ops.RoIAlign = RoIAlign
    torchvision.ops = ops
    saved = {name: sys.modules.get(name)
             for name in ('torchvision', 'torchvision.ops')}
    sys.modules.update({'torchvision': torchvision, 'torchvision.ops': ops})
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


# ------------------------------------------------------------ the plugin


def build_converted(config, checkpoint):
    """The recognizer of ``config`` with ``checkpoint`` loaded as ``mim
    test -C`` loads it (mmengine's load_checkpoint, strict), in eval mode."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    logger='silent')
    return model.eval()


@torch.no_grad()
def logits(recognizer, clip):
    """Class scores of the recognizer's backbone and head."""
    return recognizer.cls_head(recognizer.backbone(clip))
