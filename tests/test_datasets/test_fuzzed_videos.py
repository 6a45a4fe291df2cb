"""Fuzzing: several dozen odd and damaged videos, made with a fixed seed
(OpenCV writes them, then bytes are cut, flipped or rewritten, see
video_mutations.py), go through a test pipeline and a training pipeline
with two DataLoader workers each. Every video ends in a score, a
CorruptVideoError naming it, or a counted skip: no crash, no hang, no worker
death."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmaction.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader, Dataset
from video_mutations import (flip_bytes, mp4_regions, random_frames,
                             set_frame_durations, set_rotation,
                             write_mjpg_avi, write_mp4)

from csn_plugin.datasets import CorruptVideoError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUM_CLASSES = 4
LOADER_TIMEOUT_S = 60


def _pipelines():
    """The quickstart's training and test pipelines (Init, SampleFrames,
    Decode, Resize, a crop, FormatShape, Pack) on 4-frame clips of 28x28
    crops, the test one with 2 clips a video."""
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets',
                 'motion_8x112_video.py'))
    for pipeline, clips in ((cfg.train_pipeline, 1), (cfg.test_pipeline, 2)):
        pipeline[1].update(clip_len=4, frame_interval=1, num_clips=clips)
        pipeline[3].update(scale=(-1, 32))
        pipeline[4].update({'crop_size' if 'crop_size' in pipeline[4] else
                            'size': 28})
        pipeline[-1].update(meta_keys=('filename', 'img_shape'))
    return cfg.train_pipeline, cfg.test_pipeline


TRAIN_PIPELINE, TEST_PIPELINE = _pipelines()


def _valid_videos(folder, rng):
    """Readable videos of odd shapes: name -> path."""
    videos = {}

    def add(name, writer, frames, height, width):
        path = str(folder / name)
        writer(path, random_frames(rng, frames, height, width))
        videos[name] = path

    add('plain.mp4', write_mp4, 8, 32, 32)
    add('plain.avi', write_mjpg_avi, 8, 32, 32)
    add('wide.mp4', write_mp4, 8, 24, 40)
    for frames in (1, 2, 3):
        add(f'{frames}_frames.mp4', write_mp4, frames, 32, 32)
        add(f'{frames}_frames.avi', write_mjpg_avi, frames, 32, 32)
    add('1x1.avi', write_mjpg_avi, 3, 1, 1)
    add('2x2.mp4', write_mp4, 3, 2, 2)
    add('16x16.mp4', write_mp4, 4, 16, 16)
    add('16x4096.mp4', write_mp4, 2, 16, 4096)
    add('4096x16.avi', write_mjpg_avi, 2, 4096, 16)
    with open(videos['wide.mp4'], 'rb') as f:
        wide = f.read()
    edits = {f'rotated_{d}.mp4': set_rotation(wide, d) for d in (90, 180,
                                                                 270)}
    for k in range(2):  # per-frame durations from 1/40 s to 1/2 s
        durations = [int(d) for d in rng.integers(12, 256, 8)]
        edits[f'vfr_{k}.mp4'] = set_frame_durations(wide, durations)
    for name, data in edits.items():
        (folder / name).write_bytes(data)
        videos[name] = str(folder / name)
    return videos


def _damaged_videos(folder, rng, valid):
    """Truncated and byte-flipped copies of the valid ones, and junk."""
    sources = {name: open(path, 'rb').read() for name, path in valid.items()
               if name in ('plain.mp4', 'plain.avi', 'wide.mp4',
                           '3_frames.mp4')}
    damaged = {'empty.mp4': b'',
               'random.mp4': rng.bytes(3000),
               'random.avi': b'RIFF' + rng.bytes(3000)}
    for name, data in sources.items():
        stem, ext = osp.splitext(name)
        for k, fraction in enumerate(rng.uniform(0.05, 0.95, 3)):
            damaged[f'{stem}_cut{k}{ext}'] = data[:int(len(data) * fraction)]
        if ext == '.mp4':
            regions = mp4_regions(data)
        else:  # RIFF header and index lists, then JPEG frames
            regions = dict(header=(0, 256), payload=(256, len(data) - 200),
                           moov=(len(data) - 200, len(data)))
        for region, (start, end) in regions.items():
            damaged[f'{stem}_flip_{region}{ext}'] = flip_bytes(
                data, rng, start, end, count=int(rng.integers(1, 6)))
    paths = {}
    for name, data in damaged.items():
        (folder / name).write_bytes(data)
        paths[name] = str(folder / name)
    return paths


@pytest.fixture(scope='module')
def fuzzed(tmp_path_factory):
    """(valid videos, damaged videos, list file of all of them)."""
    folder = tmp_path_factory.mktemp('fuzzed')
    rng = np.random.default_rng(13)
    valid = _valid_videos(folder, rng)
    damaged = _damaged_videos(folder, rng, valid)
    ann = folder / 'list.txt'
    ann.write_text(''.join(f'{name} {i % NUM_CLASSES}\n'
                           for i, name in enumerate({**valid, **damaged})))
    return valid, damaged, str(ann)


class _Outcomes(Dataset):
    """Each sample of a test dataset, or the CorruptVideoError it raises
    (caught in the worker, so one corrupt video does not end the loop)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        try:
            return self.dataset[idx]
        except CorruptVideoError as err:
            return err


def _loader(dataset, **kwargs):
    return DataLoader(dataset, batch_size=4, num_workers=2,
                      multiprocessing_context='fork',
                      timeout=LOADER_TIMEOUT_S, **kwargs)


def _tiny_model():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', 'ircsn_r152.py'))
    cfg.model.backbone.update(depth=26, base_channels=8)
    cfg.model.cls_head.update(num_classes=NUM_CLASSES, in_channels=256)
    cfg.model.test_cfg = None  # batches of several videos
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


@pytest.mark.timeout(300)
def test_every_video_is_scored_or_named(fuzzed):
    valid, damaged, ann = fuzzed
    folder = osp.dirname(ann)
    assert len(valid) + len(damaged) >= 40
    dataset = DATASETS.build(
        dict(type='CheckedVideoDataset', ann_file=ann, pipeline=TEST_PIPELINE,
             data_prefix=dict(video=folder), test_mode=True))
    model = _tiny_model()
    scored, named = {}, {}
    for batch in _loader(_Outcomes(dataset), collate_fn=list):
        samples = [s for s in batch if not isinstance(s, CorruptVideoError)]
        for err in batch:
            if isinstance(err, CorruptVideoError):
                assert str(err).startswith(
                    f'corrupt or unreadable video {err.filename}: ')
                named[osp.basename(err.filename)] = err.reason
        if samples:
            with torch.no_grad():
                results = model.test_step(pseudo_collate(samples))
            for sample, result in zip(samples, results):
                scored[osp.basename(sample['data_samples'].filename)] = \
                    result.pred_score
    assert sorted({**scored, **named}) == sorted({**valid, **damaged})
    # Odd but valid videos are all scored; only damaged ones are named.
    assert set(valid) <= set(scored), {v: named.get(v) for v in valid}
    assert set(named) <= set(damaged)
    for name, score in scored.items():
        assert score.shape == (NUM_CLASSES, ) and torch.isfinite(
            score).all(), name
        assert float(score.sum()) == pytest.approx(1, abs=1e-5), name
    # The fuzzing does reach the error paths.
    assert len(named) >= 10


@pytest.mark.timeout(300)
def test_training_skips_and_counts_every_corrupt_video(fuzzed):
    valid, damaged, ann = fuzzed
    folder = osp.dirname(ann)
    dataset = DATASETS.build(
        dict(type='CheckedVideoDataset', ann_file=ann,
             pipeline=TRAIN_PIPELINE, data_prefix=dict(video=folder),
             on_corrupt='skip', max_skip_ratio=1))
    served = []
    for batch in _loader(dataset, collate_fn=pseudo_collate, shuffle=True):
        assert batch['inputs'][0].shape == (1, 3, 4, 28, 28)
        served += [osp.basename(s.filename) for s in batch['data_samples']]
    assert len(served) == len(dataset)  # one sample for every list entry
    corrupt = {osp.basename(p) for p in dataset.corrupt_videos}
    assert not corrupt & set(served)
    assert corrupt <= set(damaged)
    # Videos that cannot even be opened are skipped whatever frames are
    # sampled: all of them are found, each at its own turn at least.
    unopenable = {'empty.mp4', 'random.mp4', 'random.avi'}
    assert unopenable <= corrupt
    assert dataset.num_skipped >= len(corrupt)
