"""VMZ PyTorch -> MMAction2: logits of an independently built VMZ network
with random weights match the converted recognizer's."""
import argparse
import pickle

import numpy as np
import pytest
import torch
from convert_sources import (CLIP, VmzCSN, build_converted, logits,
                             max_relative_error, randomize)

from csn_plugin.tools.convert import FORMATS, ConversionError, convert

VMZ = FORMATS['vmz']


@pytest.fixture(scope='module', params=['ir', 'ip'])
def vmz_file(request, tmp_path_factory):
    """A depth-26 VMZ CSN with random weights, saved as VMZ publishes."""
    mode = request.param
    model = randomize(VmzCSN(mode, (2, 2, 2, 2), num_classes=359), seed=1)
    path = tmp_path_factory.mktemp(f'vmz_{mode}') / f'{mode}csn_26.pth'
    torch.save(model.state_dict(), path)
    return mode, model, path


def test_logits_match(vmz_file, tmp_path):
    mode, source, path = vmz_file
    result = convert(VMZ, str(path), str(tmp_path / 'out.pth'),
                     config=str(tmp_path / 'out.py'))
    assert (result.spec.mode, result.spec.depth) == (mode, 26)
    assert result.spec.num_classes == 359
    assert result.unused == [] and result.filled == []
    assert ('model.cls_head.num_classes', 400, 359) in result.differences
    model = build_converted(str(tmp_path / 'out.py'), str(tmp_path /
                                                           'out.pth'))
    clip = torch.randn(CLIP, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = source(clip)
    assert expected.abs().max() > 1e-3
    assert max_relative_error(logits(model, clip), expected) < 1e-5
    # BN statistics are copied as they are; the momentum stays MMAction2's
    # 0.1, not VMZ's mistaken 0.9.
    bn = model.backbone.layer1[0].conv1.bn
    assert torch.equal(bn.running_var, source.layer1[0].conv1[1].running_var)
    assert bn.momentum == 0.1 and source.layer1[0].conv1[1].momentum == 0.9
    assert any('momentum' in note for note in result.notes)


def test_training_checkpoint(vmz_file, tmp_path):
    """VMZ's train_net saves dict(model=..., args=Namespace, ...)."""
    mode, source, _ = vmz_file
    path = tmp_path / 'checkpoint.pth'
    torch.save(
        dict(model=source.state_dict(), epoch=3,
             args=argparse.Namespace(lr=0.1, model=f'{mode}_csn_152')), path)
    result = convert(VMZ, str(path))
    assert sorted(result.unused) == ['args (top-level entry)',
                                     'epoch (top-level entry)']
    assert len(result.state_dict) == len(source.state_dict())


def test_errors(vmz_file, tmp_path):
    mode, source, path = vmz_file
    data = path.read_bytes()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(ConversionError, match='truncated.pth.*truncated'):
        convert(VMZ, str(truncated))

    # a Caffe2 .pkl given to the PyTorch converter
    (tmp_path / 'blobs.pkl').write_bytes(
        pickle.dumps(dict(blobs={'conv1_w': np.zeros((64, 3, 3, 7, 7))})))
    with pytest.raises(ConversionError,
                       match=r"blobs.pkl: .*weights-only loading refused.*a pickle.*"
                       r"'vmz-caffe2'"):
        convert(VMZ, str(tmp_path / 'blobs.pkl'))

    state = source.state_dict()
    key = 'layer2.0.conv3.1.running_var'
    state[key] = torch.ones(7)
    torch.save(state, tmp_path / 'shape.pth')
    with pytest.raises(ConversionError,
                       match=r'shape.pth: shapes do not fit.*' + key):
        convert(VMZ, str(tmp_path / 'shape.pth'))

    # VMZ#128: a 50-layer network built with 152's stage-2 depth
    wrong = randomize(VmzCSN(mode, (3, 8, 6, 3), 400, width=8))
    torch.save(wrong.state_dict(), tmp_path / 'wrong.pth')
    with pytest.raises(ConversionError,
                       match=r'wrong.pth: unknown layout: \(3, 8, 6, 3\)'):
        convert(VMZ, str(tmp_path / 'wrong.pth'))

    state = source.state_dict()
    del state['layer3.1.conv1.1.bias']
    torch.save(state, tmp_path / 'missing.pth')
    with pytest.raises(ConversionError,
                       match=r'missing.pth: lacks 1 key.*layer3.1.conv1.1.bias'
                       r' \(for backbone.layer3.1.conv1.bn.bias\)'):
        convert(VMZ, str(tmp_path / 'missing.pth'))
