"""``python -m csn_plugin.tools.extract_features``: sliding-clip features of
whole videos, read in bounded chunks, resumable inside a video, several
processes; on the tiny trained model, the videos of tests/data and videos
generated here."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from flow_helpers import free_port, run

from csn_plugin.tools import extract_features as ef
from csn_plugin.tools import sliding_clips
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
    assert records[avi]['status'] == 'done' and records[avi]['clips'] == 10
    # decoded at the tiny config's Resize((-1, 64)) size, not 340x256
    assert records[avi]['frame_shape'] == [64, 85]
    assert np.load(npy_of(out_dir, avi)).shape == (10, 256)
    # a 20-frame tiny video: one clip
    assert np.load(npy_of(out_dir, lines[0])).shape == (1, 256)
    assert not osp.exists(npy_of(out_dir, 'corrupt.mp4'))


def test_reads_a_bounded_number_of_frames(model, video_list, single_run,
                                          monkeypatch):
    requests = []
    read_frames = sliding_clips.read_frames

    def recording(reader, indices, path):
        requests.append(len(indices))
        return read_frames(reader, indices, path)

    monkeypatch.setattr(sliding_clips, 'read_frames', recording)
    extractor = ef.ClipFeatureExtractor(model, batch_size=3, **CLIPS)
    _, root, _ = video_list
    features = extractor(osp.join(root, 'shared', 'test.avi'))
    # the first frame (its size), then 10 clips of 8 frames, 3 at a time
    assert requests == [1, 24, 24, 24, 8]
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

    # Each one-clip tiny video saves one chunk, then its .npy: the 8th save
    # is the 4th video's .npy, killed half written.
    def killed_at_the_eighth(file, array):
        if len(saved) == 7:
            file.write(b'half')  # what a kill during the write leaves
            raise KeyboardInterrupt
        saved.append(array)
        real_save(file, array)

    monkeypatch.setattr(ef.np, 'save', killed_at_the_eighth)
    with pytest.raises(KeyboardInterrupt):
        extract(trained_config, checkpoint, video_list, tmp_path)
    monkeypatch.undo()
    done = [npy_of(tmp_path, line) for line in lines[:3]]
    assert all(osp.isfile(path) for path in done)
    assert not osp.exists(npy_of(tmp_path, lines[3]))
    assert osp.isfile(npy_of(tmp_path, lines[3]) + '.chunks/00000.npy')

    summary = extract(trained_config, checkpoint, video_list, tmp_path,
                      '--no-progress')
    assert summary['counts'] == {'done': 2, 'already done': 3, 'failed': 2}
    records = {r['video']: r for r in summary['videos']}
    # the 4th video: its finished chunk reused, nothing recomputed
    assert records[lines[3]]['chunks_reused'] == 1
    assert records[lines[3]]['chunks_written'] == 0
    assert not osp.exists(npy_of(tmp_path, lines[3]) + '.chunks')
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


def ffmpeg_video(path, *args):
    """A video made by the ffmpeg binary of imageio-ffmpeg."""
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), '-loglevel', 'error',
                    '-y', *map(str, args), '-c:v', 'libx264', '-preset',
                    'ultrafast', '-pix_fmt', 'yuv420p', str(path)],
                   check=True)
    return str(path)


def extract_command(config, checkpoint, list_file, root, out_dir, *extra):
    return [
        sys.executable, '-m', 'csn_plugin.tools.extract_features', config,
        checkpoint, '--video-list', str(list_file), '--video-root',
        str(root), '--out-dir', str(out_dir), '--device', 'cpu',
        '--no-progress', *CLIP_ARGS, *map(str, extra)
    ]


def peak_rss_mib(cmd):
    """Run ``cmd``; its peak RSS (MiB), from the kernel's accounting of
    this one child (``wait4``)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            env=dict(os.environ, OMP_NUM_THREADS='2'))
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, output.decode()[-3000:]
    return usage.ru_maxrss / 1024


def test_memory_does_not_grow_with_the_resolution(tmp_path, trained_config,
                                                  checkpoint):
    """A 1920x1080 video and the same at 85x64 take the same memory: frames
    are decoded at the pipeline's 85x64. Decoding at full size (MMAction2's
    route, the extractor's before) takes hundreds of MiB more with the same
    batches."""
    for name, size in (('hd.mp4', '1920x1080'), ('small.mp4', '85x64')):
        ffmpeg_video(tmp_path / name, '-f', 'lavfi', '-i',
                     f'testsrc2=size={size}:rate=30', '-frames:v', '150')
        (tmp_path / f'{name}.txt').write_text(f'{name}\n')
    budget = ['--max-memory', '64M']

    def peak(name, *extra):
        return peak_rss_mib(extract_command(
            trained_config, checkpoint, tmp_path / f'{name}.txt', tmp_path,
            tmp_path / f'out_{name}_{len(extra)}', *extra))

    small, hd = peak('small.mp4', *budget), peak('hd.mp4', *budget)
    full = peak('hd.mp4', '--decode', 'full', '--batch-size', '8')
    # 9 clips of 8 frames: a batch of 8 holds 64 decoded 1080p frames,
    # 380 MiB; the full-size route shows at least half of that (seen:
    # 295 to 900 MiB more), the bounded one none of it.
    assert hd < small + 100, (small, hd, full)
    assert full > small + 190, (small, hd, full)


def test_kill_inside_a_video_resumes_from_its_last_chunk(
        tmp_path, trained_config, checkpoint, test_data):
    """SIGKILL while a long video is being extracted, a chunk of 2 clips at
    a time: the rerun reuses every chunk finished before the kill and
    writes a .npy that is byte for byte the uninterrupted run's."""
    # a key frame every 16 frames: each clip decodes few frames
    ffmpeg_video(tmp_path / 'long.mp4', '-stream_loop', '1', '-i',
                 osp.join(test_data, 'test.mp4'), '-g', '16')
    list_file = tmp_path / 'list.txt'
    list_file.write_text('long.mp4\n')
    settings = ['--batch-size', '1', '--chunk-clips', '2']

    def command(out_dir):
        return extract_command(trained_config, checkpoint, list_file,
                               tmp_path, out_dir, *settings)

    chunks = tmp_path / 'killed' / 'long.npy.chunks'
    proc = subprocess.Popen(command(tmp_path / 'killed'),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS='2'))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if chunks.is_dir() and len(list(chunks.glob('0*.npy'))) >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'finished before the kill'
    finished = len(list(chunks.glob('0*.npy')))  # not the .part files
    assert not (tmp_path / 'killed' / 'long.npy').exists()

    run(command(tmp_path / 'killed'))
    run(command(tmp_path / 'whole'))
    summary = json.loads((tmp_path / 'killed' / 'summary.json').read_text())
    (record, ) = summary['videos']
    # 600 frames, clips of 8 x 2 every 16 frames: 37 clips, 19 chunks
    assert record['clips'] == 37
    assert record['chunks_reused'] == finished >= 3
    assert record['chunks_written'] == 19 - finished >= 1
    assert not chunks.exists()
    resumed = (tmp_path / 'killed' / 'long.npy').read_bytes()
    assert resumed == (tmp_path / 'whole' / 'long.npy').read_bytes()
