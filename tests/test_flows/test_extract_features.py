"""``python -m csn_plugin.tools.extract_features``: sliding-clip features of
whole videos, read in bounded chunks, resumable, several processes; on the
tiny trained model and the videos of ../shared/data."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from flow_helpers import free_port, run

from csn_plugin.tools import extract_features as ef
from csn_plugin.tools.video_inference import load_recognizer

CLIPS = dict(clip_len=8, frame_interval=2, stride=16)
CLIP_ARGS = ['--clip-len', '8', '--frame-interval', '2', '--stride', '16']


def test_clip_chunks_cover_the_video_in_bounded_chunks():
    # A 10-hour video at 30 fps: every chunk holds at most 4 clips, the
    # clips start every 16 frames and every index is a frame of the video.
    total = 10 * 3600 * 30
    chunks = list(ef.clip_chunks(total, 8, 2, 16, chunk=4))
    assert max(len(c) for c in chunks) == 4
    starts = np.concatenate([c[:, 0] for c in chunks])
    np.testing.assert_array_equal(starts, np.arange(0, total - 14, 16))
    assert all(c.max() < total for c in chunks)
    np.testing.assert_array_equal(chunks[0][1], np.arange(16, 31, 2))
    # shorter than a clip: one clip, padded with the last frame
    (short, ) = list(ef.clip_chunks(5, 8, 2, 16, chunk=4))
    np.testing.assert_array_equal(short, [[0, 2, 4, 4, 4, 4, 4, 4]])


@pytest.fixture(scope='module')
def model(trained_config, checkpoint):
    return load_recognizer(trained_config, checkpoint, 'cpu')


@pytest.fixture(scope='module')
def video_list(tmp_path_factory, test_data, tiny_data):
    """Four tiny test videos, test.avi of ../shared/data, a corrupt and a
    missing video."""
    root = tmp_path_factory.mktemp('features') / 'root'
    (root / 'shared').mkdir(parents=True)
    os.symlink(osp.join(tiny_data, 'videos_test'), root / 'tiny')
    os.symlink(osp.join(test_data, 'test.avi'), root / 'shared' / 'test.avi')
    (root / 'corrupt.mp4').write_bytes(b'\x00' * 500)
    with open(osp.join(tiny_data, 'test_list_videos.txt')) as f:
        # one video a class
        lines = ['tiny/' + line.split()[0] for line in f if line.strip()][::3]
    lines += ['shared/test.avi', 'corrupt.mp4', 'missing.mp4']
    list_file = root.parent / 'videos.txt'
    list_file.write_text(''.join(f'{line} 0\n' for line in lines))
    return str(list_file), str(root), lines


def npy_of(out_dir, listed):
    return osp.join(out_dir, osp.splitext(listed)[0] + '.npy')


def extract(trained_config, checkpoint, video_list, out_dir, *extra):
    list_file, root, _ = video_list
    ef.main([
        trained_config, checkpoint, '--video-list', list_file,
        '--video-root', root, '--out-dir', str(out_dir), '--device', 'cpu',
        *CLIP_ARGS, *extra
    ])
    with open(osp.join(out_dir, 'summary.json')) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def single_run(tmp_path_factory, trained_config, checkpoint, video_list):
    out_dir = tmp_path_factory.mktemp('single')
    return out_dir, extract(trained_config, checkpoint, video_list, out_dir)


def test_corrupt_and_missing_videos_are_reported(single_run, video_list):
    out_dir, summary = single_run
    _, root, lines = video_list
    assert summary['counts'] == {'done': 5, 'already done': 0, 'failed': 2}
    records = {r['video']: r for r in summary['videos']}
    assert records['corrupt.mp4']['error'].startswith(
        f'corrupt or unreadable video {osp.join(root, "corrupt.mp4")}: ')
    assert records['missing.mp4']['error'] == (
        f'video not found: {osp.join(root, "missing.mp4")}')
    # test.avi: 164 frames -> clips start at 0, 16, ..., 144
    avi = lines[-3]
    assert records[avi] == dict(video=avi, status='done', clips=10)
    assert np.load(npy_of(out_dir, avi)).shape == (10, 256)
    # a 20-frame tiny video: one clip
    assert np.load(npy_of(out_dir, lines[0])).shape == (1, 256)
    assert not osp.exists(npy_of(out_dir, 'corrupt.mp4'))


def test_reads_a_bounded_number_of_frames(model, video_list, single_run,
                                          monkeypatch):
    requests = []
    read_frames = ef.read_frames

    def recording(reader, indices, path):
        requests.append(len(indices))
        return read_frames(reader, indices, path)

    monkeypatch.setattr(ef, 'read_frames', recording)
    extractor = ef.ClipFeatureExtractor(model, batch_size=3, **CLIPS)
    _, root, _ = video_list
    features = extractor(osp.join(root, 'shared', 'test.avi'))
    # 10 clips of 8 frames, 3 clips at a time
    assert requests == [24, 24, 24, 8]
    assert features.shape == (10, 256) and features.dtype == np.float32
    assert np.isfinite(features).all() and features.std(axis=0).max() > 0
    # The same as in chunks of 8 clips (the default, in single_run).
    single_dir, _ = single_run
    np.testing.assert_allclose(
        features, np.load(npy_of(single_dir, 'shared/test.avi')), atol=1e-5)


def test_rerun_skips_finished_videos_and_a_killed_write_leaves_no_file(
        tmp_path, trained_config, checkpoint, video_list, single_run,
        monkeypatch):
    _, _, lines = video_list
    real_save = np.save
    saved = []

    def killed_after_three(file, array):
        if len(saved) == 3:
            file.write(b'half')  # what a kill during the write leaves
            raise KeyboardInterrupt
        saved.append(array)
        real_save(file, array)

    monkeypatch.setattr(ef.np, 'save', killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        extract(trained_config, checkpoint, video_list, tmp_path)
    monkeypatch.undo()
    done = [npy_of(tmp_path, line) for line in lines[:3]]
    assert all(osp.isfile(path) for path in done)
    assert not osp.exists(npy_of(tmp_path, lines[3]))

    summary = extract(trained_config, checkpoint, video_list, tmp_path,
                      '--no-progress')
    assert summary['counts'] == {'done': 2, 'already done': 3, 'failed': 2}
    single_dir, _ = single_run
    for line in lines[:-2]:
        np.testing.assert_allclose(
            np.load(npy_of(tmp_path, line)),
            np.load(npy_of(single_dir, line)), atol=1e-6)


def test_two_processes_split_the_list(tmp_path, trained_config, checkpoint,
                                      video_list, single_run):
    list_file, root, lines = video_list
    output = run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node',
        '2', '--master-port', free_port(), '-m',
        'csn_plugin.tools.extract_features', trained_config, checkpoint,
        '--video-list', list_file, '--video-root', root, '--out-dir',
        tmp_path, '--launcher', 'pytorch', *CLIP_ARGS
    ], OMP_NUM_THREADS='1')
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['processes'] == 2
    assert summary['counts'] == {'done': 5, 'already done': 0, 'failed': 2}
    assert output.count('7 videos: 5 extracted') == 1  # rank 0 reports
    assert 'MultiScaleDeformableAttention' not in output  # quiet_warnings
    single_dir, _ = single_run
    for line in lines[:-2]:
        np.testing.assert_allclose(
            np.load(npy_of(tmp_path, line)),
            np.load(npy_of(single_dir, line)), atol=1e-5)


def test_bad_arguments_name_the_problem(tmp_path, trained_config, checkpoint):
    twice = tmp_path / 'twice.txt'
    twice.write_text('a/x.mp4 1\n\na/x.avi 2\n')
    with pytest.raises(SystemExit, match=f"{twice}:3: 'a/x.avi' would write "
                       r'the same a/x.npy as line 1'):
        ef.main([trained_config, checkpoint, '--video-list', str(twice),
                 '--out-dir', str(tmp_path)])
    outside = tmp_path / 'outside.txt'
    outside.write_text('a.mp4\n../b.mp4\n')
    with pytest.raises(SystemExit, match=f"{outside}:2: '../b.mp4' must be "
                       'a path relative to --video-root, inside it'):
        ef.main([trained_config, checkpoint, '--video-list', str(outside),
                 '--out-dir', str(tmp_path)])
    one = tmp_path / 'one.txt'
    one.write_text('a.mp4\n')
    with pytest.raises(SystemExit, match='error: stride must be >= 1, got 0'):
        ef.main([trained_config, checkpoint, '--video-list', str(one),
                 '--out-dir', str(tmp_path), '--stride', '0'])
