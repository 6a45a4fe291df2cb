"""VMZ Caffe2 -> MMAction2: blobs named as VMZ's Caffe2 builders name them,
taken from a VMZ network with random weights, convert to a recognizer with
the same logits; the blob names of ir/ip-CSN-152 match VMZ's naming rules;
the .pkl is read by a restricted unpickler."""
import pickle

import pytest
import torch
from convert_sources import (CLIP, VmzCSN, as_numpy, build_converted,
                             caffe2_blobs, logits, max_relative_error,
                             python2_pickle, randomize)

from csn_plugin.tools.convert import (FORMATS, ConversionError, NetworkSpec,
                                      convert)
from csn_plugin.tools.convert.layout import key_pairs, source_keys

CAFFE2 = FORMATS['vmz-caffe2']


@pytest.fixture(scope='module', params=['ir', 'ip'])
def caffe2_file(request, tmp_path_factory):
    """A depth-26 VMZ CSN with random weights as a Python 2 .pkl of blobs
    (dict(blobs=...), as c2/tools/minidb_to_pickle.py writes)."""
    mode = request.param
    model = randomize(VmzCSN(mode, (2, 2, 2, 2), num_classes=487), seed=2)
    path = tmp_path_factory.mktemp(f'c2_{mode}') / f'{mode}CSN_26.pkl'
    path.write_bytes(
        python2_pickle(dict(blobs=as_numpy(caffe2_blobs(model, mode)))))
    return mode, model, path


def test_logits_match(caffe2_file, tmp_path):
    mode, source, path = caffe2_file
    result = convert(CAFFE2, str(path), str(tmp_path / 'out.pth'),
                     config=str(tmp_path / 'out.py'))
    assert (result.spec.mode, result.spec.depth,
            result.spec.num_classes) == (mode, 26, 487)
    assert result.unused == []
    # Caffe2 keeps no num_batches_tracked: one per BN is set to 0
    bns = sum(key.endswith('.bn.weight') for key in result.state_dict)
    assert len(result.filled) == bns
    model = build_converted(str(tmp_path / 'out.py'), str(tmp_path /
                                                           'out.pth'))
    clip = torch.randn(CLIP, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = source(clip)
    assert max_relative_error(logits(model, clip), expected) < 1e-5


def test_python3_pickle_and_other_blobs(caffe2_file, tmp_path):
    """A Python 3 pickle (numpy 2 names), training blobs reported unused and
    a float64 blob cast, with a note."""
    mode, source, _ = caffe2_file
    blobs = as_numpy(caffe2_blobs(source, mode))
    blobs['comp_0_conv_1_w_momentum'] = blobs['comp_0_conv_1_w'] * 0
    blobs['conv1_w'] = blobs['conv1_w'].astype('float64')
    path = tmp_path / 'py3.pkl'
    path.write_bytes(pickle.dumps(dict(blobs=blobs, lr=0.1), protocol=4))
    result = convert(CAFFE2, str(path))
    assert result.unused == ['comp_0_conv_1_w_momentum', 'lr']
    assert 'cast to the model\'s dtypes: conv1_w (torch.float64)' in \
        result.notes
    assert all(
        torch.equal(result.state_dict[ours],
                    torch.from_numpy(blobs[src]).float())
        for ours, src in result.pairs if src is not None)


# Hand-derived from VMZ's naming: stem 5 blobs; ir blocks 15 (conv_1,
# conv_3, conv_4 with their BNs), ip blocks 20 (conv_1, conv_2_middle,
# conv_2, conv_3); 4 projections of 5; classifier 2. ir/ip-CSN-152 have
# 3 + 8 + 36 + 3 = 50 blocks: blocks 0-2, 3-10, 11-46, 47-49.
GOLDEN = {
    'ir': (777, {
        'stem': ('conv1_w', 'conv1_spatbn_relu_riv'),
        'layer1': ('comp_0_conv_1_w', 'comp_2_spatbn_4_riv'),
        'layer2': ('comp_3_conv_1_w', 'comp_10_spatbn_4_riv'),
        'layer3': ('comp_11_conv_1_w', 'comp_46_spatbn_4_riv'),
        'layer4': ('comp_47_conv_1_w', 'comp_49_spatbn_4_riv'),
        'head': ('last_out_L400_w', 'last_out_L400_b'),
    }),
    'ip': (1027, {
        'stem': ('conv1_w', 'conv1_spatbn_relu_riv'),
        'layer1': ('comp_0_conv_1_w', 'comp_2_spatbn_3_riv'),
        'layer2': ('comp_3_conv_1_w', 'comp_10_spatbn_3_riv'),
        'layer3': ('comp_11_conv_1_w', 'comp_46_spatbn_3_riv'),
        'layer4': ('comp_47_conv_1_w', 'comp_49_spatbn_3_riv'),
        'head': ('last_out_L400_w', 'last_out_L400_b'),
    }),
}


@pytest.mark.parametrize('mode', ['ir', 'ip'])
def test_golden_csn152_blob_names(mode):
    spec = NetworkSpec(mode, (3, 8, 36, 3), 400)
    pairs = [(ours, src) for ours, src in key_pairs(CAFFE2.LAYOUT, spec)
             if src is not None]
    names = source_keys(CAFFE2.LAYOUT, spec)
    count, stages = GOLDEN[mode]
    assert len(names) == len(set(names)) == count
    for stage, (first, last) in stages.items():
        prefix = {'stem': 'backbone.conv1.', 'head': 'cls_head.'}.get(
            stage, f'backbone.{stage}.')
        in_stage = [src for ours, src in pairs if ours.startswith(prefix)]
        assert (in_stage[0], in_stage[-1]) == (first, last), stage
    # the same names as the builder-order fixture makes from a VMZ network
    with torch.device('meta'):
        reference = VmzCSN(mode, (3, 8, 36, 3), 400)
    assert sorted(caffe2_blobs(reference, mode)) == sorted(names)


def test_unpickler_refuses_code(tmp_path):
    """A pickle that would run a command is refused before anything runs."""
    marker = tmp_path / 'ran'

    class Exploit:

        def __reduce__(self):
            return (__import__('os').system, (f'touch {marker}', ))

    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps(dict(blobs=dict(x=Exploit())), protocol=2))
    with pytest.raises(ConversionError,
                       match=r'evil.pkl: refused to unpickle posix.system'):
        convert(CAFFE2, str(path))
    assert not marker.exists()


def test_errors(caffe2_file, tmp_path):
    mode, source, path = caffe2_file
    data = path.read_bytes()
    (tmp_path / 'cut.pkl').write_bytes(data[:len(data) // 3])
    with pytest.raises(ConversionError, match=r'cut.pkl: .*truncated'):
        convert(CAFFE2, str(tmp_path / 'cut.pkl'))

    torch.save(source.state_dict(), tmp_path / 'torch.pth')
    with pytest.raises(ConversionError,
                       match=r"torch.pth: .*zip archive.*'vmz' or "
                       r"'pytorchvideo'"):
        convert(CAFFE2, str(tmp_path / 'torch.pth'))

    blobs = as_numpy(caffe2_blobs(source, mode))
    blobs['conv1_middle_w'] = blobs['conv1_w']  # an R(2+1)D stem
    (tmp_path / 'r2plus1d.pkl').write_bytes(pickle.dumps(dict(blobs=blobs)))
    with pytest.raises(ConversionError,
                       match=r'r2plus1d.pkl: unknown layout: conv1_middle_w'):
        convert(CAFFE2, str(tmp_path / 'r2plus1d.pkl'))

    blobs = as_numpy(caffe2_blobs(source, mode))
    blobs['comp_5_spatbn_1_riv'] = blobs['comp_5_spatbn_1_riv'][:-1]
    (tmp_path / 'shape.pkl').write_bytes(pickle.dumps(dict(blobs=blobs)))
    with pytest.raises(ConversionError,
                       match=r'shape.pkl: shapes do not fit.*'
                       r'comp_5_spatbn_1_riv \(255,\) vs '
                       r'backbone.layer3.1.conv1.bn.running_var \(256,\)'):
        convert(CAFFE2, str(tmp_path / 'shape.pkl'))
