"""Flow 1: ``mim train mmaction <config> --gpus 0`` runs MMAction2's own
train tool, which builds the plugin's backbone through the config's
``custom_imports`` and writes a checkpoint; ``mim train csn_plugin`` runs
the plugin's tool, which needs no ``custom_imports`` and takes MMAction2
0.x's ``--validate``."""
import os.path as osp
import re

import mmaction
import torch
from flow_helpers import MIM, MOTION_CONFIG, run

REPLACED = ("csn_plugin.models.backbones.resnet3d_csn.ResNet3dCSN replaces "
            "MMAction2's built-in")


def assert_trained_plugin_model(work_dir, output):
    # One epoch of 12 videos in batches of 4, then validation.
    assert REPLACED in output
    assert re.search(r'Epoch\(train\) +\[1\]\[3/3\].* loss: [\d.]+', output)
    assert re.search(r'Epoch\(val\) +\[1\]\[\d+/\d+\] +acc/top1: ', output)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    assert osp.basename(checkpoint) == 'epoch_1.pth'
    saved = torch.load(checkpoint, map_location='cpu', weights_only=False)
    assert saved['meta']['epoch'] == 1
    state = saved['state_dict']
    # ir-CSN-26 at base_channels=8: a depthwise 3x3x3 conv in every block
    assert state['backbone.conv1.conv.weight'].shape == (8, 3, 3, 7, 7)
    depthwise = 'backbone.layer{}.{}.conv2.0.conv.weight'
    assert state[depthwise.format(1, 0)].shape == (8, 1, 3, 3, 3)
    assert state[depthwise.format(4, 1)].shape == (64, 1, 3, 3, 3)
    assert state['cls_head.fc_cls.weight'].shape == (4, 256)


def test_mim_train_mmaction(mim_trained):
    work_dir, output = mim_trained
    tool = osp.join(osp.dirname(mmaction.__file__), '.mim', 'tools',
                    'train.py')
    assert f'Training command is {osp.dirname(MIM)}' in output
    assert tool in output
    assert_trained_plugin_model(work_dir, output)


def test_mim_train_csn_plugin_without_custom_imports(tmp_path, tiny_options):
    config = tmp_path / 'no_custom_imports.py'
    config.write_text(f'_base_ = [{MOTION_CONFIG!r}]\n'
                      'custom_imports = dict(imports=[])\n')
    work_dir = tmp_path / 'work'
    # with the CSN documentation's MMAction2 0.x options
    output = run([
        MIM, 'train', 'csn_plugin', config, '--gpus', '0', '--work-dir',
        work_dir, '--validate', '--seed', '0', '--deterministic',
        '--cfg-options', *tiny_options
    ])
    assert re.search(
        r'Training command is .*/csn_plugin/\.mim/tools/train\.py', output)
    assert_trained_plugin_model(work_dir, output)
    assert output.count('1.x validates at every train_cfg.val_interval') == 1
    # mmengine's environment report
    assert re.search(r'^ +seed: 0$', output, re.MULTILINE)
    assert re.search(r'^ +deterministic: True$', output, re.MULTILINE)
