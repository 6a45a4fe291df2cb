"""CheckedVideoDataset: list-file checks at load time, corrupt videos raised
or skipped (and counted, across DataLoader workers)."""
import logging
import os.path as osp

import pytest
from mmaction.registry import DATASETS
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader

from csn_plugin.datasets import CheckedVideoDataset, CorruptVideoError

PIPELINE = [
    dict(type='CheckedDecordInit'),
    dict(type='SampleFrames', clip_len=2, frame_interval=1, num_clips=1),
    dict(type='CheckedDecordDecode'),
]


def _write_list(tmp_path, lines, name='list.txt'):
    path = tmp_path / name
    path.write_text(''.join(f'{line}\n' for line in lines))
    return str(path)


def _build(ann_file, prefix, **kwargs):
    """Build from a config; prefix '' for a list of absolute paths."""
    return DATASETS.build(
        dict(type='CheckedVideoDataset', ann_file=ann_file,
             data_prefix=dict(video=prefix), pipeline=PIPELINE, **kwargs))


def test_reads_a_good_list(tmp_path, shared_data):
    ann = _write_list(tmp_path, ['test.mp4 0', '', 'test.avi 2'])
    dataset = _build(ann, shared_data)
    assert isinstance(dataset, CheckedVideoDataset)
    assert len(dataset) == 2
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [0, 2]
    assert dataset.get_data_info(1)['filename'] == osp.join(
        shared_data, 'test.avi')
    sample = dataset[0]
    assert len(sample['imgs']) == 2
    assert dataset.num_skipped == 0


def test_multi_class_and_unlabelled_test_lists(tmp_path, shared_data):
    ann = _write_list(tmp_path, ['test.mp4 0 3', 'test.avi 1'])
    dataset = _build(ann, shared_data, multi_class=True, num_classes=4)
    assert dataset.get_data_info(0)['label'].tolist() == [1, 0, 0, 1]
    ann = _write_list(tmp_path, ['test.mp4', 'test.avi'], 'unlabelled.txt')
    dataset = _build(ann, shared_data, test_mode=True)
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [-1, -1]


@pytest.mark.parametrize('line, kwargs, problem', [
    ('test.avi', {}, 'no label'),
    ('test.avi one', {}, 'labels must be integers'),
    ('test.avi  1', {}, '3 fields'),
    ('test.avi 1 2', {}, '3 fields'),
    ('test.avi -1', {}, 'label -1 is not >= 0'),
    ('test.avi 5', dict(num_classes=5), 'below num_classes=5'),
    ('test.avi 1,2', dict(multi_class=True, num_classes=3),
     'labels must be integers'),
])
def test_malformed_line_names_file_and_line(tmp_path, shared_data, line,
                                            kwargs, problem):
    ann = _write_list(tmp_path, ['test.mp4 0', line, 'test.mp4 1'])
    with pytest.raises(ValueError) as info:
        _build(ann, shared_data, **kwargs)
    message = str(info.value)
    assert message.startswith(f'{ann}:2: {line!r} -> ')
    assert problem in message


def test_missing_videos_name_path_and_line(tmp_path, shared_data):
    ann = _write_list(tmp_path,
                      ['test.mp4 0', 'gone/a.mp4 1', 'test.avi 1', 'b.mp4 0'])
    with pytest.raises(FileNotFoundError) as info:
        _build(ann, shared_data)
    message = str(info.value)
    assert message.startswith(f'2 of 4 videos listed in {ann} do not exist')
    missing = osp.join(shared_data, 'gone', 'a.mp4')
    assert f"{ann}:2: 'gone/a.mp4 1' -> {missing}" in message
    assert f"{ann}:4: 'b.mp4 0' -> {osp.join(shared_data, 'b.mp4')}" in message
    # Not checked when asked not to: the error comes when loading it.
    dataset = _build(ann, shared_data, check_files=False)
    assert len(dataset) == 4
    with pytest.raises(FileNotFoundError, match=missing):
        dataset[1]


def test_missing_or_empty_list(tmp_path, shared_data):
    with pytest.raises(FileNotFoundError, match='list file not found'):
        _build(str(tmp_path / 'none.txt'), shared_data)
    ann = _write_list(tmp_path, ['', '  '])
    with pytest.raises(ValueError, match=f'{ann} lists no videos'):
        _build(ann, shared_data)


def test_bad_options(tmp_path, shared_data):
    ann = _write_list(tmp_path, ['test.mp4 0'])
    with pytest.raises(ValueError, match="on_corrupt must be one of"):
        _build(ann, shared_data, on_corrupt='ignore')
    with pytest.raises(ValueError, match='for training only'):
        _build(ann, shared_data, on_corrupt='skip', test_mode=True)
    with pytest.raises(ValueError, match='multi_class=True needs num_classes'):
        _build(ann, shared_data, multi_class=True)


@pytest.mark.parametrize('kind', ['random', 'truncated_avi', 'damaged_mp4'])
def test_corrupt_video_raises_by_default(tmp_path, bad_videos, kind):
    # The damaged video only fails in its middle frames; sample them.
    pipeline = [dict(type='CheckedDecordInit'),
                dict(type='SampleFrames', clip_len=8, num_clips=1,
                     test_mode=True),
                dict(type='CheckedDecordDecode')]
    path = bad_videos[kind]
    ann = _write_list(tmp_path, [f'{osp.basename(path)} 0'])
    dataset = DATASETS.build(
        dict(type='CheckedVideoDataset', ann_file=ann, pipeline=pipeline,
             data_prefix=dict(video=osp.dirname(path))))
    with pytest.raises(CorruptVideoError, match=f'video {path}: '):
        dataset[0]


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_logged():
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_skip_replaces_and_reports_corrupt_video(tmp_path, shared_data,
                                                 bad_videos, warnings_logged):
    bad = bad_videos['random']
    ann = _write_list(tmp_path, [f'{bad} 1',
                                 f'{osp.join(shared_data, "test.mp4")} 0'])
    dataset = _build(ann, '', on_corrupt='skip')
    sample = dataset[0]
    assert sample['filename'].endswith('test.mp4')
    assert sample['label'] == 0
    assert dataset.num_skipped >= 1
    skips = [m for m in warnings_logged if bad in m]
    assert len(skips) == dataset.num_skipped
    assert skips[0].startswith(f'corrupt or unreadable video {bad}: ')
    assert skips[-1].endswith(
        f'{dataset.num_skipped} sample(s) skipped so far.')


def test_skip_gives_up_when_everything_is_corrupt(tmp_path, bad_videos):
    ann = _write_list(tmp_path, [f'{bad_videos["random"]} 0',
                                 f'{bad_videos["empty"]} 1'])
    dataset = _build(ann, '', on_corrupt='skip', max_refetch=3)
    with pytest.raises(Exception, match='Cannot find valid image after 3'):
        dataset[0]
    assert dataset.num_skipped == 4


# mmengine's env_cfg.mp_cfg.mp_start_method picks how workers start.
@pytest.mark.parametrize('start_method', ['fork', 'spawn'])
def test_skips_are_counted_across_workers(tmp_path, shared_data, bad_videos,
                                          start_method):
    good = osp.join(shared_data, 'test.avi')
    bad = [bad_videos['random'], bad_videos['truncated_mp4']]
    ann = _write_list(tmp_path, [f'{good} 0', f'{bad[0]} 1', f'{good} 0',
                                 f'{bad[1]} 1'])
    dataset = _build(ann, '', on_corrupt='skip')
    loader = DataLoader(dataset, batch_size=1, num_workers=2,
                        collate_fn=pseudo_collate,
                        multiprocessing_context=start_method, timeout=120)
    samples = [batch['filename'][0] for batch in loader]
    assert samples == [good] * 4
    # Each bad index was fetched once, and a replacement may be bad too.
    assert dataset.num_skipped >= 2
