"""SkippedVideosHook logs the corrupt-video skips of each training epoch."""
import logging
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
from mmaction.registry import DATASETS, HOOKS
from mmengine.dataset import ConcatDataset, RepeatDataset
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from csn_plugin.engine import SkippedVideosHook


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelno, record.getMessage()))


@pytest.fixture
def runner_for():
    """A stand-in runner: the hook only uses its train dataloader's
    dataset and its logger."""
    logger = MMLogger.get_instance('skipped_videos_hook_test')
    handler = _Records()
    logger.addHandler(handler)

    def make(dataset):
        runner = SimpleNamespace(
            train_dataloader=SimpleNamespace(dataset=dataset), logger=logger)
        return runner, handler.records

    yield make
    logger.removeHandler(handler)


def _dataset(tmp_path, test_data, on_corrupt):
    init_default_scope('mmaction')
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(
        np.random.default_rng(0).integers(0, 256, 3000, np.uint8).tobytes())
    ann = tmp_path / 'list.txt'
    ann.write_text(f'{bad} 1\n{osp.join(test_data, "test.avi")} 0\n')
    return DATASETS.build(
        dict(type='CheckedVideoDataset', ann_file=str(ann),
             data_prefix=dict(video=''), on_corrupt=on_corrupt,
             max_skip_ratio=0.5, pipeline=[dict(type='CheckedDecordInit')]))


@pytest.mark.parametrize('wrap', [
    lambda d: d,
    lambda d: RepeatDataset(d, times=2),
    lambda d: ConcatDataset([d, d]),  # counted once
])
def test_reports_skips_per_epoch(tmp_path, test_data, runner_for, wrap):
    dataset = _dataset(tmp_path, test_data, 'skip')
    runner, records = runner_for(wrap(dataset))
    hook = HOOKS.build(dict(type='SkippedVideosHook'))
    assert isinstance(hook, SkippedVideosHook)
    hook.before_train(runner)
    assert records == []

    dataset[0]  # the bad video, skipped for the good one
    skipped = dataset.num_skipped
    assert skipped >= 1
    hook.after_train_epoch(runner)
    assert records[-1] == (
        logging.WARNING,
        f'SkippedVideosHook: {skipped} training sample(s) skipped for '
        f'corrupt videos in this epoch, {skipped} in all so far.')

    dataset[1]  # good
    hook.after_train_epoch(runner)
    assert records[-1] == (
        logging.INFO,
        f'SkippedVideosHook: 0 training sample(s) skipped for corrupt '
        f'videos in this epoch, {skipped} in all so far.')


def test_warns_when_there_is_nothing_to_watch(tmp_path, test_data,
                                              runner_for):
    runner, records = runner_for(_dataset(tmp_path, test_data, 'raise'))
    hook = SkippedVideosHook()
    hook.before_train(runner)
    assert len(records) == 1
    assert records[0][0] == logging.WARNING
    assert "no CheckedVideoDataset with on_corrupt='skip'" in records[0][1]
    hook.after_train_epoch(runner)
    assert len(records) == 1
