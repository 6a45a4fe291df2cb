"""CheckedVideoDataset: list-file checks at load time, corrupt videos raised
or skipped (and counted, across DataLoader workers)."""
import os
import os.path as osp
import re

import pytest
from mmaction.registry import DATASETS
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from csn_plugin.datasets import (CheckedVideoDataset, CorruptVideoError,
                                 TooManyCorruptVideosError)
from csn_plugin.datasets.model_classes import model_classes

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


def test_reads_a_good_list(tmp_path, test_data):
    ann = _write_list(tmp_path, ['test.mp4 0', '', 'test.avi 2'])
    dataset = _build(ann, test_data)
    assert isinstance(dataset, CheckedVideoDataset)
    assert len(dataset) == 2
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [0, 2]
    assert dataset.get_data_info(1)['filename'] == osp.join(
        test_data, 'test.avi')
    sample = dataset[0]
    assert len(sample['imgs']) == 2
    assert dataset.num_skipped == 0


def test_multi_class_and_unlabelled_test_lists(tmp_path, test_data):
    ann = _write_list(tmp_path, ['test.mp4 0 3', 'test.avi 1'])
    dataset = _build(ann, test_data, multi_class=True, num_classes=4)
    assert dataset.get_data_info(0)['label'].tolist() == [1, 0, 0, 1]
    ann = _write_list(tmp_path, ['test.mp4', 'test.avi'], 'unlabelled.txt')
    dataset = _build(ann, test_data, test_mode=True)
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [-1, -1]


@pytest.mark.parametrize('line, kwargs, problem', [
    ('test.avi', {}, 'no label'),
    ('test.avi one', {}, 'labels must be integers'),
    ('test.avi  1', {}, '3 fields'),
    ('test.avi 1 2', {}, '3 fields'),
    ('test.avi -1', {}, 'label -1 is negative'),
    ('test.avi 5', dict(num_classes=5),
     'label 5 is outside [0, 5) (num_classes=5)'),
    ('test.avi 1,2', dict(multi_class=True, num_classes=3),
     'labels must be integers'),
    ('test.avi\t1', {}, "contains a tab at column 9, but fields are "
     "separated by ' '; set delimiter='\\t'"),
    ('test.avi 1\x00', {}, "contains the control character '\\x00' at "
     'column 11'),
    ('\ufefftest.avi 1', {}, 'contains a byte-order mark (U+FEFF) at '
     'column 1'),
])
def test_malformed_line_names_file_and_line(tmp_path, test_data, line,
                                            kwargs, problem):
    ann = _write_list(tmp_path, ['test.mp4 0', line, 'test.mp4 1'])
    with pytest.raises(ValueError) as info:
        _build(ann, test_data, **kwargs)
    message = str(info.value)
    assert message.startswith(f'{ann}:2: {line!r} -> ')
    assert problem in message


def test_labels_are_checked_against_the_model(tmp_path, test_data):
    """Inside a Runner's loop building (see test_model_classes.py for the
    Runner itself), labels must be below the model head's class count."""
    ann = _write_list(tmp_path, ['test.mp4 3', 'test.avi 7'])
    with model_classes(4):
        with pytest.raises(ValueError) as info:
            _build(ann, test_data)
        assert str(info.value) == (
            f"{ann}:2: 'test.avi 7' -> label 7 is outside [0, 4) "
            '(model.cls_head.num_classes=4)')
        with pytest.raises(ValueError, match=r"'test.avi 7' -> label 7 is "
                           r'outside \[0, 4\) \(num_classes=8, '
                           r'model.cls_head.num_classes=4\)'):
            _build(ann, test_data, num_classes=8)
        with pytest.raises(ValueError, match='but the model has 4 classes'):
            _build(ann, test_data, multi_class=True, num_classes=8)
    assert len(_build(ann, test_data)) == 2  # no model, no limit


def test_encoding_errors_name_line_and_byte(tmp_path, test_data):
    videos = tmp_path / 'videos'
    videos.mkdir()
    for name in ('test.mp4', 'caf\u00e9.mp4'):
        os.symlink(osp.join(test_data, 'test.mp4'), videos / name)
    ann = tmp_path / 'latin1.txt'
    ann.write_bytes('test.mp4 0\ncaf\u00e9.mp4 1\n'.encode('latin-1'))
    with pytest.raises(ValueError) as info:
        _build(str(ann), str(videos))
    assert str(info.value).startswith(
        f'{ann}:2: not valid utf-8 text: byte 0xe9 at column 4 (invalid '
        "continuation byte). Save the list as utf-8 or set the dataset's "
        'encoding')
    dataset = _build(str(ann), str(videos), encoding='latin-1')
    assert dataset.get_data_info(1)['filename'].endswith('caf\u00e9.mp4')
    ann.write_text('test.mp4 0\n', encoding='utf-16')
    with pytest.raises(ValueError, match=f'^{ann}:1: not valid utf-8 text: '
                       '.*UTF-16 byte-order mark'):
        _build(str(ann), str(videos))


def test_bom_windows_line_ends_and_outer_whitespace_are_accepted(
        tmp_path, test_data, warnings_logged):
    ann = tmp_path / 'windows.txt'
    ann.write_bytes(b'\xef\xbb\xbftest.mp4 0\r\n  test.avi 1 \t\r\n')
    dataset = _build(str(ann), test_data)
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [0, 1]
    assert dataset.get_data_info(0)['filename'] == osp.join(
        test_data, 'test.mp4')
    assert f'{ann}:1: starts with a UTF-8 byte-order mark (BOM); ignored ' \
        'it.' in warnings_logged


def test_other_delimiters(tmp_path, test_data):
    ann = _write_list(tmp_path, ['test.mp4\t0', 'test.avi\t1'])
    assert len(_build(ann, test_data, delimiter='\t')) == 2
    ann = _write_list(tmp_path, ['test.mp4,0', 'test.avi,1,'], 'comma.txt')
    with pytest.raises(ValueError, match=f"^{ann}:2: 'test.avi,1,' -> 3 "
                       "fields separated by ','"):
        _build(ann, test_data, delimiter=',')


def test_duplicates_are_refused_or_kept_with_a_warning(
        tmp_path, test_data, warnings_logged):
    ann = _write_list(tmp_path, ['test.mp4 0', 'test.avi 1', './test.mp4 0',
                                 'test.avi 1'])
    with pytest.raises(ValueError) as info:
        _build(ann, test_data)
    message = str(info.value)
    assert message.startswith(
        f'2 line(s) of {ann} repeat a video listed before, which would '
        'count it more than once:\n')
    assert f"  {ann}:3: './test.mp4 0' repeats line 1\n" in message
    assert f"  {ann}:4: 'test.avi 1' repeats line 2\n" in message
    dataset = _build(ann, test_data, allow_duplicates=True)
    assert len(dataset) == 4
    assert warnings_logged[-1].startswith(
        f'{ann}: 2 of 4 lines repeat a video listed before; kept '
        '(allow_duplicates=True).')
    # Two labels for one video: refused either way.
    ann = _write_list(tmp_path, ['test.mp4 0', 'test.mp4 1'], 'two.txt')
    with pytest.raises(ValueError) as info:
        _build(ann, test_data, allow_duplicates=True)
    assert str(info.value) == (
        f"{ann}:2: 'test.mp4 1' -> {osp.join(test_data, 'test.mp4')} has "
        'label 1 here and 0 on line 1')


def test_missing_videos_name_path_and_line(tmp_path, test_data):
    ann = _write_list(tmp_path,
                      ['test.mp4 0', 'gone/a.mp4 1', 'test.avi 1', 'b.mp4 0'])
    with pytest.raises(FileNotFoundError) as info:
        _build(ann, test_data)
    message = str(info.value)
    assert message.startswith(f'2 of 4 videos listed in {ann} do not exist')
    missing = osp.join(test_data, 'gone', 'a.mp4')
    assert f"{ann}:2: 'gone/a.mp4 1' -> {missing}" in message
    assert f"{ann}:4: 'b.mp4 0' -> {osp.join(test_data, 'b.mp4')}" in message
    # Not checked when asked not to: the error comes when loading it.
    dataset = _build(ann, test_data, check_files=False)
    assert len(dataset) == 4
    with pytest.raises(FileNotFoundError, match=missing):
        dataset[1]


def test_missing_or_empty_list(tmp_path, test_data):
    with pytest.raises(FileNotFoundError, match='list file not found'):
        _build(str(tmp_path / 'none.txt'), test_data)
    ann = _write_list(tmp_path, ['', '  '])
    with pytest.raises(ValueError, match=f'{ann} lists no videos'):
        _build(ann, test_data)


def test_bad_options(tmp_path, test_data):
    ann = _write_list(tmp_path, ['test.mp4 0'])
    with pytest.raises(ValueError, match="on_corrupt must be one of"):
        _build(ann, test_data, on_corrupt='ignore')
    with pytest.raises(ValueError, match='for training only'):
        _build(ann, test_data, on_corrupt='skip', test_mode=True)
    with pytest.raises(ValueError, match='multi_class=True needs num_classes'):
        _build(ann, test_data, multi_class=True)
    with pytest.raises(ValueError, match=r'max_skip_ratio must be a number '
                       r'in \[0, 1\], got 1.5'):
        _build(ann, test_data, on_corrupt='skip', max_skip_ratio=1.5)


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


@pytest.fixture
def warnings_logged(capture_warnings):
    return capture_warnings()


def test_skip_replaces_and_reports_corrupt_video(tmp_path, test_data,
                                                 bad_videos, warnings_logged):
    bad = bad_videos['random']
    ann = _write_list(tmp_path, [f'{bad} 1',
                                 f'{osp.join(test_data, "test.mp4")} 0'])
    dataset = _build(ann, '', on_corrupt='skip', max_skip_ratio=0.5)
    sample = dataset[0]
    assert sample['filename'].endswith('test.mp4')
    assert sample['label'] == 0
    assert dataset.num_skipped >= 1
    assert dataset.num_corrupt == 1
    skips = [m for m in warnings_logged if bad in m]
    assert len(skips) == dataset.num_skipped
    assert skips[0].startswith(f'corrupt or unreadable video {bad}: ')
    assert skips[-1].endswith(
        f'{dataset.num_skipped} sample(s) skipped so far, 1 of 2 listed '
        'videos corrupt (max_skip_ratio=0.5 allows 1).')


def _all_corrupt_list(tmp_path, bad_videos):
    kinds = ['random', 'empty', 'truncated_mp4', 'truncated_avi']
    return _write_list(
        tmp_path, [f'{bad_videos[k]} {i % 2}' for i, k in enumerate(kinds)])


def test_skip_stops_past_max_skip_ratio(tmp_path, bad_videos):
    ann = _all_corrupt_list(tmp_path, bad_videos)
    dataset = _build(ann, '', on_corrupt='skip', max_skip_ratio=0.25)
    with pytest.raises(TooManyCorruptVideosError) as info:
        dataset[0]
    message = str(info.value)
    # 2 distinct corrupt videos are more than 0.25 x 4 = 1.
    assert message.startswith(
        'more of the list is corrupt than max_skip_ratio=0.25 allows '
        f'(1 of 4 videos): 2 of the 4 videos listed in {ann} were found '
        'corrupt so far')
    assert bad_videos['random'] in message
    assert dataset.num_corrupt == 2


def test_skip_stops_after_max_refetch_corrupt_in_a_row(tmp_path, bad_videos):
    ann = _all_corrupt_list(tmp_path, bad_videos)
    dataset = _build(ann, '', on_corrupt='skip', max_skip_ratio=1,
                     max_refetch=3)
    with pytest.raises(TooManyCorruptVideosError,
                       match='^4 videos picked in a row were corrupt '
                       rf'\(max_refetch=3\): \d of the 4 videos listed in '
                       f'{ann}'):
        dataset[0]
    assert dataset.num_skipped == 4


def _error_from(loader):
    """The message of the TooManyCorruptVideosError that iterating
    ``loader`` raises. The workers are shut down here: left to the garbage
    collector (the error's traceback holds the iterator in a cycle), torch's
    shutdown waits 5 s for each worker, in whichever test comes next."""
    batches = iter(loader)
    try:
        list(batches)
    except TooManyCorruptVideosError as err:
        return str(err)
    finally:
        batches._shutdown_workers()
    pytest.fail('no TooManyCorruptVideosError')


def test_skip_limit_holds_across_workers(tmp_path, bad_videos):
    """Every video corrupt, two workers: the run stops with the list named,
    not after mmengine's 1000 retries."""
    ann = _all_corrupt_list(tmp_path, bad_videos)
    dataset = _build(ann, '', on_corrupt='skip', max_skip_ratio=0.5)
    loader = DataLoader(dataset, batch_size=1, num_workers=2,
                        collate_fn=pseudo_collate,
                        multiprocessing_context='fork', timeout=120)
    message = _error_from(loader)
    assert message.startswith('Caught TooManyCorruptVideosError in '
                              'DataLoader worker process')
    # Both workers may find one at the same time: 3 or 4 found.
    assert re.search(
        'more of the list is corrupt than max_skip_ratio=0.5 allows '
        rf'\(2 of 4 videos\): [34] of the 4 videos listed in {ann}', message)
    # The flags are shared: the main process sees what the workers found.
    assert dataset.num_corrupt >= 3
    assert dataset.num_skipped < 10


# mmengine's env_cfg.mp_cfg.mp_start_method picks how workers start.
@pytest.mark.parametrize('start_method', ['fork', 'spawn'])
def test_skips_are_counted_across_workers(tmp_path, test_data, bad_videos,
                                          start_method):
    good = osp.join(test_data, 'test.avi')
    bad = [bad_videos['random'], bad_videos['truncated_mp4']]
    ann = _write_list(tmp_path, [f'{good} 0', f'{bad[0]} 1', f'{good} 0',
                                 f'{bad[1]} 1'])
    dataset = _build(ann, '', on_corrupt='skip', max_skip_ratio=0.5,
                     allow_duplicates=True)
    loader = DataLoader(dataset, batch_size=1, num_workers=2,
                        collate_fn=pseudo_collate,
                        multiprocessing_context=start_method, timeout=120)
    samples = [batch['filename'][0] for batch in loader]
    assert samples == [good] * 4
    # Each bad index was fetched once, and a replacement may be bad too.
    assert dataset.num_skipped >= 2
