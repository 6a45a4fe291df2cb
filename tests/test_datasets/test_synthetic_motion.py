"""The synthetic motion dataset: layout, decodability, determinism, and that
only motion tells its classes apart."""
import hashlib
import os
import os.path as osp

import cv2
import decord
import numpy as np
import pytest

from csn_plugin.datasets import (generate_motion_dataset, motion_class_names,
                                 render_motion_video)
from csn_plugin.datasets.synthetic_motion import SPLITS


def test_class_names():
    assert motion_class_names(4) == [
        'move_right', 'move_up', 'move_left', 'move_down'
    ]
    assert motion_class_names(8)[1] == 'move_up_right'
    assert motion_class_names(3) == ['move_right', 'move_120deg',
                                     'move_240deg']
    assert len(set(motion_class_names(36))) == 36
    for bad in (1, 37):
        with pytest.raises(ValueError, match='num_classes'):
            motion_class_names(bad)


def _render_set(num_classes, per_class, num_frames, size, seed=0):
    """Videos and labels rendered in memory, as the generator draws them."""
    directions = [360 * k / num_classes for k in range(num_classes)]
    videos, labels = [], []
    for label, direction in enumerate(directions):
        for index in range(per_class):
            rng = np.random.default_rng([seed, label, index])
            videos.append(
                render_motion_video(rng, direction, num_frames, size))
            labels.append(label)
    return np.stack(videos), np.array(labels)


def _nearest_centroid_accuracy(features, labels):
    """Fit class means on the even samples, classify the odd ones."""
    fit = np.arange(len(labels)) % 2 == 0
    held = ~fit
    mean, std = features[fit].mean(0), features[fit].std(0) + 1e-8
    features = (features - mean) / std
    centroids = np.stack([
        features[fit & (labels == c)].mean(0) for c in np.unique(labels)
    ])
    dists = ((features[held, None] - centroids[None])**2).sum(-1)
    return (dists.argmin(1) == labels[held]).mean()


def _frame_features(frame):
    """Appearance of one frame: colour means, spreads and histograms."""
    pixels = frame.reshape(-1, 3).astype(np.float64)
    hists = [np.histogram(pixels[:, c], bins=8, range=(0, 256))[0]
             for c in range(3)]
    return np.concatenate([pixels.mean(0), pixels.std(0)] + hists)


def _motion_feature(video):
    """Direction of the shift between frames 0 and 4 (phase correlation)."""
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float64)
            for f in (video[0], video[4])]
    (dx, dy), _ = cv2.phaseCorrelate(grey[0], grey[1])
    return np.array([dx, dy]) / (np.hypot(dx, dy) + 1e-8)


def test_single_frames_carry_no_class_but_motion_does():
    num_classes, per_class = 4, 40
    videos, labels = _render_set(num_classes, per_class, num_frames=8,
                                 size=64)
    # One frame per video, from a random time.
    times = np.random.default_rng(1).integers(0, 8, len(videos))
    frames = videos[np.arange(len(videos)), times]
    colour_stats = np.stack([_frame_features(f) for f in frames])
    # The image itself, 8 x 8 pixels per colour: nearest centroid on it
    # compares each frame with the mean image of each class.
    tiny_images = np.stack([
        cv2.resize(f, (8, 8), interpolation=cv2.INTER_AREA).ravel()
        for f in frames
    ]).astype(np.float64)
    motion = np.stack([_motion_feature(v) for v in videos])

    # 80 held-out videos: chance is 0.25, with a standard deviation of 0.05.
    chance = 1 / num_classes
    for appearance in (colour_stats, tiny_images):
        accuracy = _nearest_centroid_accuracy(appearance, labels)
        assert accuracy < chance + 0.2, accuracy
    accuracy = _nearest_centroid_accuracy(motion, labels)
    assert accuracy >= 0.95, accuracy


def test_motion_goes_the_named_way():
    rng = np.random.default_rng(0)
    for name, direction, sign in [('right', 0, (1, 0)), ('up', 90, (0, -1)),
                                  ('left', 180, (-1, 0)),
                                  ('down', 270, (0, 1))]:
        video = render_motion_video(rng, direction, num_frames=8, size=64)
        dx, dy = _motion_feature(video)
        assert np.allclose([dx, dy], sign, atol=0.1), (name, dx, dy)


@pytest.fixture(scope='module')
def small_dataset(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('motion'))
    outputs = generate_motion_dataset(
        out, num_classes=3, videos_per_class=dict(train=2, val=1, test=1),
        num_frames=12, size=64, fps=10, seed=3, progress=False)
    return out, outputs


def test_layout_and_lists(small_dataset):
    out, outputs = small_dataset
    names = open(osp.join(out, 'label_map.txt')).read().split('\n')
    assert names == motion_class_names(3) + ['']
    assert outputs['label_map'] == osp.join(out, 'label_map.txt')
    for split, per_class in zip(SPLITS, (2, 1, 1)):
        assert outputs[split] == osp.join(out, f'{split}_list_videos.txt')
        lines = open(outputs[split]).read().splitlines()
        assert len(lines) == 3 * per_class
        video_dir = osp.join(out, f'videos_{split}')
        listed = set()
        for line in lines:
            path, label = line.split(' ')
            class_dir, file_name = path.split('/')
            assert class_dir == names[int(label)]
            assert file_name.endswith('.mp4')
            assert osp.isfile(osp.join(video_dir, path))
            listed.add(path)
        on_disk = {
            f'{c}/{f}'
            for c in os.listdir(video_dir)
            for f in os.listdir(osp.join(video_dir, c))
        }
        assert on_disk == listed


def test_videos_decode_to_the_rendered_frames(small_dataset):
    out, _ = small_dataset
    # The first train video of class 1, redrawn with the generator's seed.
    rendered = render_motion_video(
        np.random.default_rng([3, 0, 1, 0]), 120.0, num_frames=12, size=64)
    reader = decord.VideoReader(
        osp.join(out, 'videos_train', 'move_120deg', 'train_01_0000.mp4'))
    assert len(reader) == 12
    assert reader.get_avg_fps() == pytest.approx(10)
    decoded = reader.get_batch(list(range(12))).asnumpy()
    assert decoded.shape == rendered.shape
    # mp4v keeps the brightness (luma) well; 4:2:0 chroma subsampling
    # softens the colour edges, so only luma is held to a tight bound.
    luma = [
        np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video])
        for video in (decoded, rendered)
    ]
    diff = luma[0].astype(np.float64) - luma[1]
    psnr = 10 * np.log10(255**2 / (diff**2).mean())
    assert psnr > 33, psnr
    # Frame t decodes closest to rendered frame t: no frame lost or doubled.
    # (At 64 px the texture moves 0.5 to 1.5 px a frame, so a rendered frame
    # can repeat the one before; hence ties count.)
    errors = np.abs(decoded[:, None].astype(np.float64) -
                    rendered[None]).mean(axis=(2, 3, 4))
    assert np.allclose(errors.diagonal(), errors.min(axis=1))


def _digests(root):
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                digests[osp.relpath(path, root)] = hashlib.md5(
                    f.read()).hexdigest()
    return digests


def test_deterministic_given_seed(tmp_path):
    kwargs = dict(num_classes=2, videos_per_class=dict(train=2, val=1,
                                                       test=0),
                  num_frames=6, size=32, progress=False)
    for name, seed in [('a', 5), ('b', 5), ('c', 6)]:
        generate_motion_dataset(str(tmp_path / name), seed=seed, **kwargs)
    first, again, other = (_digests(tmp_path / n) for n in 'abc')
    assert first == again
    assert first.keys() == other.keys()
    videos = [k for k in first if k.endswith('.mp4')]
    assert all(first[k] != other[k] for k in videos)


def test_refuses_to_overwrite_unless_asked(tmp_path):
    kwargs = dict(num_classes=2, videos_per_class=dict(train=1, val=1,
                                                       test=1),
                  num_frames=4, size=32, progress=False)
    generate_motion_dataset(str(tmp_path), **kwargs)
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_motion_dataset(str(tmp_path), **kwargs)
    kwargs['videos_per_class'] = dict(train=2, val=0, test=0)
    generate_motion_dataset(str(tmp_path), overwrite=True, **kwargs)
    assert len(os.listdir(tmp_path / 'videos_train' / 'move_left')) == 2
    assert open(tmp_path / 'val_list_videos.txt').read() == ''
    assert not any(files for _, _, files in os.walk(tmp_path / 'videos_val'))


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_classes=1), 'num_classes'),
    (dict(size=8), 'size'),
    (dict(num_frames=0), 'num_frames'),
    (dict(videos_per_class=dict(training=3)), 'unknown splits'),
    (dict(videos_per_class=dict(train=-1)), '>= 0'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_motion_dataset(str(tmp_path), progress=False, **kwargs)
    assert os.listdir(tmp_path) == []
