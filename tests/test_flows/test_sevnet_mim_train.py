"""SEVNet trains through ``mim train mmaction`` on the generated dataset.

A tiny SEVNet (widths 16-32, one SEV module a stage) trains one epoch of 4
iterations on 8 generated videos and validates, in well under a minute.
"""
import os.path as osp
import re

import torch
from flow_helpers import MIM, REPO, data_options, make_dataset, run

CONFIG = osp.join(REPO, 'configs', 'sevnet', 'sevnet_s_8x112_motion.py')


def test_sevnet_trains_with_mim(tmp_path):
    data = make_dataset(
        tmp_path / 'motion', '--classes', '4', '--train-per-class', '2',
        '--val-per-class', '1', '--test-per-class', '1', '--frames', '16')
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
    ] + data_options(data) + [
        f'{split}_dataloader.{option}' for split in ('train', 'val', 'test')
        for option in ('num_workers=0', 'persistent_workers=False')
    ]
    log = run([
        MIM, 'train', 'mmaction', CONFIG, '--gpus', '0', '--work-dir',
        work_dir, '-y', '--cfg-options', *tiny
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
