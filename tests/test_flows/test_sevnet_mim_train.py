"""SEVNet trains through ``mim train mmaction`` on the generated dataset.

A tiny SEVNet (widths 16-32, one SEV module a stage) trains one epoch of 4
iterations on 8 generated videos and validates, in well under a minute.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import torch

CONFIG = 'configs/sevnet/sevnet_s_8x112_motion.py'


def run(cmd, cwd=None, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS',
                                                           '2'))
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_sevnet_trains_with_mim(tmp_path, repo_root, venv_bin):
    data = tmp_path / 'motion'
    run([
        sys.executable, '-m', 'csn_plugin.tools.make_dataset',
        str(data), '--classes', '4', '--train-per-class', '2',
        '--val-per-class', '1', '--test-per-class', '1', '--frames', '16',
        '--size', '64', '--no-progress'
    ])
    work_dir = tmp_path / 'work'
    tiny = [
        'model.backbone.stem_channels=8',
        'model.backbone.widths=(16,16,32,32)',
        'model.backbone.depths=(1,1,1,1)',
        'model.backbone.group_width=8',
        'model.backbone.with_se=True',
        'model.cls_head.in_channels=32',
        'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=2',
        'default_hooks.logger.interval=1',
    ]
    for split, loader in (('train', 'train'), ('val', 'val'),
                          ('test', 'test')):
        tiny += [
            f'{loader}_dataloader.dataset.ann_file='
            f'{data}/{split}_list_videos.txt',
            f'{loader}_dataloader.dataset.data_prefix.video='
            f'{data}/videos_{split}',
            f'{loader}_dataloader.num_workers=0',
            f'{loader}_dataloader.persistent_workers=False',
        ]
    log = run([
        osp.join(venv_bin, 'mim'), 'train', 'mmaction',
        osp.join(repo_root, CONFIG), '--gpus', '0', '--work-dir',
        str(work_dir), '-y', '--cfg-options', *tiny
    ])

    # 8 videos in batches of 2: 4 iterations with finite losses, then val
    losses = re.findall(r'Epoch\(train\) +\[1\]\[\d/4\].* loss: ([\d.]+)',
                        log)
    assert len(losses) == 4 and all(0 < float(v) < 10 for v in losses)
    assert re.search(r'Epoch\(val\) \[1\]\[\d+/\d+\] +acc/top1: ', log)

    ckpt = torch.load(
        work_dir / 'epoch_1.pth', map_location='cpu', weights_only=False)
    state = ckpt['state_dict']
    # the trained model is the tiny SEVNet with its SE units
    assert state['backbone.stem.conv.weight'].shape == (8, 3, 3, 3, 3)
    assert state['backbone.layer1.1.conv.1.conv.weight'].shape == (16, 8, 1,
                                                                   3, 3)
    assert 'backbone.layer4.1.se.fc1.conv.weight' in state
    assert state['cls_head.fc_cls.weight'].shape == (4, 32)
    assert ckpt['meta']['epoch'] == 1
