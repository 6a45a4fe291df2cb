"""``model-index.yml`` and the CSN metafile: ``mim search csn_plugin`` and
``mim download csn_plugin`` work on the installed package, every entry's
config exists and its published figures are MMAction2's for the same
weights."""
import os.path as osp
import subprocess

import pytest
import yaml
from mmengine.config import Config

import mmaction

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MMACTION_CSN_METAFILE = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition', 'csn',
    'metafile.yml')


def read_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def our_models():
    index = read_yaml(osp.join(REPO, 'model-index.yml'))
    return [
        model for metafile in index['Import']
        for model in read_yaml(osp.join(REPO, metafile))['Models']
    ]


MODELS = our_models()


def test_entries_point_at_existing_configs():
    assert len(MODELS) == 8
    for model in MODELS:
        assert model['Config'] == f'configs/{model["Name"]}.py'
        assert osp.isfile(osp.join(REPO, model['Config'])), model['Config']


@pytest.mark.parametrize('model', MODELS, ids=lambda m: m['Name'])
def test_published_figures_are_mmaction2s(model):
    """Top-1/top-5 and, for the same weights, MMAction2's metafile; the
    config names the same weights and figures in its header."""
    published = {
        m['Weights']: m
        for m in read_yaml(MMACTION_CSN_METAFILE)['Models']
    }[model['Weights']]
    assert model['Results'] == published['Results']
    assert model['Metadata']['Pretrained'] == \
        published['Metadata']['Pretrained']
    config = open(osp.join(REPO, model['Config'])).read()
    assert model['Weights'] in config
    assert str(model['Results'][0]['Metrics']['Top 1 Accuracy']) in config
    params = {'ResNet152': '29.70M', 'ResNet50': '13.13M'}
    if model['Name'].startswith('ipcsn'):
        params['ResNet152'] = '33.02M'
    assert model['Metadata']['Parameters'] == \
        params[model['Metadata']['Architecture']]


def test_mim_search(venv_bin, tmp_path):
    # Outside the repository: mim reads the installed package's .mim.
    result = subprocess.run(
        [osp.join(venv_bin, 'mim'), 'search', 'csn_plugin', '--model', 'csn'],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    listed = [line.split(': ', 1)[1] for line in result.stdout.splitlines()
              if line.startswith('config id: ')]
    assert sorted(listed) == sorted(m['Name'] for m in MODELS)
    assert 'kinetics-400/top_1_accuracy  82.87' in result.stdout


def test_mim_download_dumps_the_config(tmp_path):
    """mim download fetches the weights (here already there: no network)
    and dumps the config, which builds the plugin's model."""
    from mim.commands.download import download
    model = MODELS[2]
    weights = tmp_path / model['Weights'].rsplit('/', 1)[1]
    weights.write_bytes(b'')
    assert download('csn_plugin', [model['Name']],
                    dest_root=str(tmp_path)) == [weights.name]
    cfg = Config.fromfile(str(tmp_path / f'{model["Name"]}.py'))
    assert cfg.model.backbone.type == 'ResNet3dCSN'
    assert cfg.model.backbone.depth == 50
