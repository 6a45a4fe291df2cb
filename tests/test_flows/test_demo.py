"""``python -m csn_plugin.tools.demo`` and MMAction2's own inference API
(``init_recognizer``, ``inference_recognizer``, ``MMAction2Inferencer``) on
the plugin's config and checkpoint, trained on the tiny motion dataset."""
import csv
import json
import os
import os.path as osp
import shutil
import subprocess

import decord
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from csn_plugin.tools import demo
from csn_plugin.tools.video_inference import load_recognizer


def first_test_video(data_dir, label):
    with open(osp.join(data_dir, 'test_list_videos.txt')) as f:
        for line in f:
            name, video_label = line.split()
            if int(video_label) == label:
                return osp.join(data_dir, 'videos_test', name)
    raise AssertionError(f'no test video of class {label}')


def rewrite(src, dst, codec):
    """Re-encode ``src`` into ``dst`` (another container and codec) with the
    ffmpeg binary of imageio-ffmpeg (the ``vis`` extra), in its own process:
    OpenCV's in-process FFMPEG writer refuses VP8 in WebM once other tests
    in the same process have run MMAction2's vis_cam."""
    subprocess.run([
        imageio_ffmpeg.get_ffmpeg_exe(), '-loglevel', 'error', '-y', '-i',
        src, '-frames:v', '20', '-c:v', codec, dst
    ], check=True)
    assert len(decord.VideoReader(dst)) == 20, dst


@pytest.fixture(scope='module')
def video_dir(tmp_path_factory, tiny_data, test_data):
    """mp4 (in a sub-folder), webm, mov and avi videos, a truncated mp4, a
    text file posing as a video and a file that is not a video."""
    folder = tmp_path_factory.mktemp('demo_videos')
    (folder / 'sub').mkdir()
    shutil.copy(first_test_video(tiny_data, 0), folder / 'sub' / 'a.mp4')
    rewrite(first_test_video(tiny_data, 1), str(folder / 'b.webm'), 'libvpx')
    rewrite(first_test_video(tiny_data, 2), str(folder / 'c.mov'), 'mpeg4')
    os.symlink(osp.join(test_data, 'test.avi'), folder / 'd.avi')
    with open(first_test_video(tiny_data, 3), 'rb') as f:
        (folder / 'truncated.mp4').write_bytes(f.read(2000))
    (folder / 'text.mp4').write_text('not a video\n')
    (folder / 'notes.txt').write_text('not a video either\n')
    return folder


def test_folder_with_unreadable_videos(video_dir, tiny_data, trained_config,
                                       checkpoint, tmp_path, capsys):
    summary = tmp_path / 'summary.csv'
    demo.main([
        str(video_dir), trained_config, checkpoint, '--label-map',
        osp.join(tiny_data, 'label_map.txt'), '--top-k', '2', '--out',
        str(summary), '--device', 'cpu'
    ])
    out, err = capsys.readouterr()
    assert '6 video(s): 4 classified, 2 unreadable' in out
    assert f'1 file(s) without a video extension left out, e.g. ' \
           f'{video_dir / "notes.txt"}' in out
    assert f'{video_dir / "text.mp4"}: skipped, corrupt or unreadable ' \
           f'video {video_dir / "text.mp4"}' in err
    assert '100%' in err  # the progress bar
    with open(summary) as f:
        rows = {osp.relpath(row['video'], video_dir): row
                for row in csv.DictReader(f)}
    assert sorted(rows) == [
        'b.webm', 'c.mov', 'd.avi', 'sub/a.mp4', 'text.mp4', 'truncated.mp4'
    ]
    names = open(osp.join(tiny_data, 'label_map.txt')).read().split()
    for name, row in rows.items():
        if name in ('text.mp4', 'truncated.mp4'):
            assert row['status'] == 'unreadable'
            assert name in row['error'] and not row['label_1']
            continue
        assert row['status'] == 'ok' and not row['error']
        assert {row['label_1'], row['label_2']} <= set(names)
        assert 0 <= float(row['score_2']) <= float(row['score_1']) <= 1
        # each printed line holds the video and its labels with scores
        assert (f'{video_dir / name}:  {row["label_1"]} '
                f'{float(row["score_1"]):.3f}') in out


def test_single_video_labelled_copy(test_data, trained_config, checkpoint,
                                    tmp_path, capsys):
    video = osp.join(test_data, 'test.mp4')
    labelled = tmp_path / 'labelled.mp4'
    summary = tmp_path / 'summary.json'
    demo.main([
        video, trained_config, checkpoint, '--top-k', '3', '--out-video',
        str(labelled), '--out', str(summary), '--device', 'cpu'
    ])
    (record, ) = json.loads(summary.read_text())
    assert record['status'] == 'ok' and record['out_video'] == str(labelled)
    labels = [label for label, _ in record['top']]
    assert len(labels) == 3 and all(label.startswith('class ') for label in
                                    labels)
    scores = [score for _, score in record['top']]
    assert scores == sorted(scores, reverse=True)
    original = decord.VideoReader(video)
    written = decord.VideoReader(str(labelled))
    assert len(written) == len(original) == 300
    first, copy = original[0].asnumpy(), written[0].asnumpy()
    assert copy.shape == first.shape == (256, 340, 3)
    # The written frame is the video's with the labels drawn on it, up to
    # mp4v's lossy encoding; drawing them changes many pixels.
    expected = demo.draw_labels(first, record['top'])
    assert np.abs(copy.astype(int) - expected).mean() < 8
    changed = np.abs(expected.astype(int) - first).max(axis=2) > 64
    assert changed.sum() > 300 and not changed[128:].any()
    assert 'labelled video(s): ' + str(labelled) in capsys.readouterr().out


def test_single_unreadable_video_is_an_error(tmp_path, trained_config,
                                             checkpoint):
    video = tmp_path / 'broken.avi'
    video.write_bytes(b'\x00' * 100)
    with pytest.raises(SystemExit, match=f'error: corrupt or unreadable '
                       f'video {video}'):
        demo.main([str(video), trained_config, checkpoint, '--device', 'cpu'])


def test_mmaction_inference_api(tiny_data, trained_config, checkpoint):
    """MMAction2's init_recognizer / inference_recognizer and
    MMAction2Inferencer take the plugin's config and checkpoint; the demo's
    scores (BN folded into the convs) are theirs."""
    from mmaction.apis import inference_recognizer, init_recognizer
    from mmaction.apis.inferencers import MMAction2Inferencer
    video = first_test_video(tiny_data, 0)
    model = init_recognizer(trained_config, checkpoint, device='cpu')
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    sample = inference_recognizer(model, video, pipeline)
    assert sample.pred_score.shape == (4, )
    assert float(sample.pred_score.sum()) == pytest.approx(1, abs=1e-5)

    deployed = load_recognizer(trained_config, checkpoint, 'cpu')
    assert deployed.backbone.deploy
    (record, ) = demo.classify_videos(deployed, [video], list('abcd'), 4,
                                      progress=False)
    ours = dict(record['top'])
    torch.testing.assert_close(
        torch.tensor([ours[c] for c in 'abcd']), sample.pred_score,
        rtol=0, atol=1e-5)

    inferencer = MMAction2Inferencer(
        rec=trained_config, rec_weights=checkpoint, device='cpu',
        label_file=osp.join(tiny_data, 'label_map.txt'))
    (prediction, ) = inferencer(video)['predictions']
    (scores, ) = prediction['rec_scores']
    assert len(scores) == 4 and sum(scores) == pytest.approx(1, abs=1e-5)
    assert prediction['rec_labels'] == [[int(np.argmax(scores))]]


def test_timeline_png_and_csv(test_data, tiny_data, trained_config,
                              checkpoint, tmp_path, capsys):
    """The top classes over time of test.mp4 (300 frames, 30 fps): clips of
    the config's 8 x 2 frames every 4 frames, streamed in a small memory
    budget."""
    video = osp.join(test_data, 'test.mp4')
    png, table = tmp_path / 'timeline.png', tmp_path / 'timeline.csv'
    demo.main([
        video, trained_config, checkpoint, '--label-map',
        osp.join(tiny_data, 'label_map.txt'), '--top-k', '3', '--timeline',
        str(png), str(table), '--timeline-stride', '4', '--max-memory',
        '32M', '--device', 'cpu', '--no-progress'
    ])
    out = capsys.readouterr().out
    assert f'timeline of 72 clips: {png}, {table}' in out
    names = open(osp.join(tiny_data, 'label_map.txt')).read().split()
    with open(table) as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    # clips start at 0, 4, ..., 284 (the last whole clip of 15 frames)
    assert len(rows) == 72 and all(len(row) == 8 for row in rows)
    assert header[:5] == ['clip', 'start_s', 'end_s', 'top_label',
                          'top_score']
    assert len(set(header[5:])) == 3 and set(header[5:]) <= set(names)
    starts = np.array([float(row[1]) for row in rows])
    ends = np.array([float(row[2]) for row in rows])
    np.testing.assert_allclose(starts, np.arange(0, 285, 4) / 30, atol=1e-3)
    assert (np.diff(starts) > 0).all() and (ends > starts).all()
    for row in rows:
        scores = np.array(row[5:], float)
        assert row[3] in names and 0 < float(row[4]) <= 1
        assert ((0 <= scores) & (scores <= float(row[4]) + 1e-4)).all()
    # The clips are told apart: the scores change over the video.
    assert np.ptp(np.array([row[5] for row in rows], float)) > 0
    # The classes of the header are the best by mean score, best first.
    means = np.array([[float(v) for v in row[5:]] for row in rows]).mean(0)
    assert (np.diff(means) <= 1e-4).all()
    import matplotlib.pyplot as plt
    image = plt.imread(str(png))  # RGBA, floats in [0, 1]
    assert image.shape == (450, 1000, 4)
    assert image[..., :3].std() > 0.04  # not blank


@pytest.mark.parametrize('kind', ['missing', 'not a video', 'zero bytes',
                                  'text as mp4', 'folder'])
def test_bad_inputs_give_one_line_errors(kind, tmp_path, trained_config,
                                         checkpoint, test_data):
    path = tmp_path / {'missing': 'none.mp4', 'not a video': 'notes.txt',
                       'zero bytes': 'empty.mp4', 'text as mp4': 'text.mp4',
                       'folder': 'videos'}[kind]
    expected = {
        'missing': f'error: no such file or folder: {path}',
        'not a video': f'error: {path}: not a video file name',
        'zero bytes': f'error: corrupt or unreadable video {path}',
        'text as mp4': f'error: corrupt or unreadable video {path}',
        'folder': f'error: {path} is a folder: --timeline takes one video',
    }[kind]
    if kind == 'not a video':
        path.write_text('notes\n')
    elif kind == 'zero bytes':
        path.write_bytes(b'')
    elif kind == 'text as mp4':
        path.write_text('not a video\n')
    elif kind == 'folder':
        path.mkdir()
        os.symlink(osp.join(test_data, 'test.mp4'), path / 'a.mp4')
    with pytest.raises(SystemExit) as exc:
        demo.main([str(path), trained_config, checkpoint, '--timeline',
                   str(tmp_path / 't.png'), '--device', 'cpu'])
    message = str(exc.value)
    assert message.startswith(expected) and '\n' not in message
    assert not (tmp_path / 't.png').exists()


def test_timeline_option_errors(tmp_path, trained_config, checkpoint,
                                test_data, capsys):
    video = osp.join(test_data, 'test.mp4')
    for option, error in (
            (['--timeline', 'x.txt'], '--timeline must end with one of'),
            (['--timeline', 'x.png', '--timeline-stride', '0'],
             '--timeline-stride must be >= 1, got 0'),
            (['--timeline', 'x.png', '--max-memory', 'lots'],
             "--max-memory: not a memory size: 'lots'")):
        with pytest.raises(SystemExit):
            demo.main([video, trained_config, checkpoint, *option])
        assert error in capsys.readouterr().err
