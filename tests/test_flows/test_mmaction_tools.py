"""MMAction2's own tools with the plugin's config and checkpoint:
``clip_feature_extraction`` by ``mim run mmaction`` (``--video-root`` with
the plugin's ``CheckedVideoDataset``), ``vis_cam`` (moviepy from the
``vis`` extra) and ``get_flops``, their scripts run in this process."""
import os.path as osp
import pickle
import re
import runpy
import sys

import decord
import mmaction
import numpy as np
import pytest
from flow_helpers import MIM, run

from csn_plugin.tools.complexity import complexity_of
from csn_plugin.tools.extract_features import ClipFeatureExtractor
from csn_plugin.tools.video_inference import load_recognizer

MMACTION_TOOLS = osp.join(osp.dirname(mmaction.__file__), '.mim', 'tools')


def test_clip_feature_extraction_video_root(tmp_path, test_data,
                                            trained_config, checkpoint):
    """The config's data_prefix is the tiny dataset's folder; --video-root
    points at ../shared/data. Its long-video mode takes the clips that
    csn_plugin's extractor takes, and gives the same features."""
    video_list = tmp_path / 'videos.txt'
    video_list.write_text('test.mp4\ntest.avi\n')
    out = tmp_path / 'features'
    run([
        MIM, 'run', 'mmaction', 'clip_feature_extraction', trained_config,
        checkpoint, out, '--video-list', video_list, '--video-root',
        test_data, '--long-video-mode', '--clip-interval', '16',
        '--frame-interval', '2'
    ])
    # decoded at full size and resized by the pipeline, as MMAction2 does
    extractor = ClipFeatureExtractor(
        load_recognizer(trained_config, checkpoint, 'cpu'),
        clip_len=8, frame_interval=2, stride=16, decode='full')
    # Clip centres every 16 frames from frame 8; csn_plugin stops at the
    # last whole clip, MMAction2 may add one clamped to the last frame.
    for name, total, ours_clips in (('test.mp4', 300, 18),
                                    ('test.avi', 164, 10)):
        with open(out / f'{name}.pkl', 'rb') as f:
            theirs = pickle.load(f).numpy()
        assert theirs.shape == (len(range(8, total, 16)), 256)
        ours = extractor(osp.join(test_data, name))
        assert ours.shape == (ours_clips, 256)
        np.testing.assert_allclose(ours, theirs[:ours_clips], atol=1e-5)


def run_tool(path, *argv, monkeypatch):
    """Run one of MMAction2's tool scripts in this process, as ``mim run
    mmaction`` runs it in a new one (tested above): cheaper."""
    script = osp.join(MMACTION_TOOLS, path)
    monkeypatch.setattr(sys, 'argv', [script, *map(str, argv)])
    runpy.run_path(script, run_name='__main__')


def test_vis_cam_writes_the_video(tmp_path, tiny_data, trained_config,
                                  checkpoint, monkeypatch):
    with open(osp.join(tiny_data, 'test_list_videos.txt')) as f:
        video = osp.join(tiny_data, 'videos_test', f.readline().split()[0])
    out = tmp_path / 'cam.mp4'
    run_tool('visualizations/vis_cam.py', trained_config, checkpoint, video,
             '--device', 'cpu', '--target-layer-name',
             'backbone/layer4/1/conv3/bn', '--out-filename', out,
             monkeypatch=monkeypatch)
    frames = decord.VideoReader(str(out))
    # 3 test clips of 8 frames blended with the heat map; vis_cam runs the
    # config's `test_pipeline` (112x112 crops), not the test loader's
    assert len(frames) >= 24 and frames[0].shape == (112, 112, 3)


def si_value(output, name):
    """``Flops: 28.21M`` in get_flops' output as a number."""
    value, unit = re.search(rf'{name}: ([\d.]+)([KMG]?)', output).groups()
    return float(value) * 1000**' KMG'.index(unit or ' ')


def test_get_flops(trained_config, monkeypatch, capsys):
    run_tool('analysis_tools/get_flops.py', trained_config, '--shape', 1, 3,
             8, 56, 56, monkeypatch=monkeypatch)
    output = capsys.readouterr().out
    ours = complexity_of(trained_config, (1, 3, 8, 56, 56))
    assert si_value(output, 'Params') == pytest.approx(ours.params, rel=5e-3)
    # mmengine's counter: the conv and linear multiply-adds, and possibly
    # more ops (BN, pooling); never fewer
    assert si_value(output, 'Flops') >= 0.995 * ours.macs
