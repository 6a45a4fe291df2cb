"""mmengine's own Runner, as ``mim train mmaction`` and ``mim test mmaction``
run it, hands the model head's class count to the CheckedVideoDatasets it
builds: a label past the head's classes fails when the loop is built, naming
the list and line, although no config sets the dataset's num_classes."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import csn_plugin  # noqa: F401  (installs the Runner step)
from csn_plugin.datasets.model_classes import model_num_classes

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MOTION_CONFIG = osp.join(REPO, 'configs', 'ircsn_r26_8x112_motion.py')


def _runner(tmp_path, test_data, lists):
    """The quickstart config (4 classes) at an eighth of its width, on the
    given list file of each split."""
    cfg = Config.fromfile(MOTION_CONFIG)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.backbone.base_channels = 8
    cfg.model.cls_head.in_channels = 256
    for split, lines in lists.items():
        ann = tmp_path / f'{split}.txt'
        ann.write_text(''.join(f'{line}\n' for line in lines))
        loader = cfg[f'{split}_dataloader']
        loader.update(num_workers=0, persistent_workers=False)
        loader.dataset.update(ann_file=str(ann),
                              data_prefix=dict(video=test_data))
    return Runner.from_cfg(cfg)


def test_runner_checks_labels_against_the_head(tmp_path, test_data):
    good = ['test.mp4 0', 'test.avi 3']
    bad = ['test.mp4 1', 'test.avi 4']
    runner = _runner(tmp_path, test_data,
                     dict(train=good, val=bad, test=bad))
    assert runner.cfg.val_dataloader.dataset.get('num_classes') is None
    message = (f"{tmp_path / 'val.txt'}:2: 'test.avi 4' -> label 4 is "
               'outside [0, 4) (model.cls_head.num_classes=4)')
    # The training list is fine; its validation list is not.
    with pytest.raises(ValueError) as info:
        runner.train()
    assert str(info.value) == message
    assert runner.train_dataloader.dataset.model_num_classes == 4
    with pytest.raises(ValueError) as info:
        runner.test()
    assert str(info.value) == message.replace('val.txt', 'test.txt')
    assert model_num_classes() is None  # only while the Runner builds
