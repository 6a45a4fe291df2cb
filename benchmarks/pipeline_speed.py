"""Decode and data-pipeline throughput of MMAction2's CSN Kinetics pipelines.

Runs the train, val and test pipelines of MMAction2's ir-CSN configs
(32x2 sampling, decord) on one video, in this process and one thread, and
then through a DataLoader with several worker counts, and prints what one
loader worker delivers next to what the model consumes.

    python benchmarks/pipeline_speed.py [--video tests/data/test.mp4]

Speed figures only; nothing here is a pass/fail test.
"""
import argparse
import os
import os.path as osp
import statistics
import time

import cv2
import torch
from torch.utils.data import DataLoader, Dataset

import csn_plugin  # noqa: F401  (fixes the stack)
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

HERE = osp.dirname(osp.abspath(__file__))
DEFAULT_VIDEO = osp.join(HERE, '..', 'tests', 'data', 'test.mp4')

SAMPLE_32x2 = dict(type='SampleFrames', clip_len=32, frame_interval=2)
DECODE = [dict(type='DecordInit'), dict(type='DecordDecode')]
FORMAT = [dict(type='FormatShape', input_format='NCTHW'),
          dict(type='PackActionInputs')]
#: The pipelines of MMAction2's ircsn_ig65m-pretrained-r152-bnfrozen_8xb12-
#: 32x2x1-58e_kinetics400-rgb.py; (name, clips a sample, transforms)
PIPELINES = [
    ('train (1 clip, RandomResizedCrop 224, flip)', 1, [
        DECODE[0], dict(SAMPLE_32x2, num_clips=1), DECODE[1],
        dict(type='Resize', scale=(-1, 256)), dict(type='RandomResizedCrop'),
        dict(type='Resize', scale=(224, 224), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5)] + FORMAT),
    ('val (1 clip, CenterCrop 224)', 1, [
        DECODE[0], dict(SAMPLE_32x2, num_clips=1, test_mode=True), DECODE[1],
        dict(type='Resize', scale=(-1, 256)),
        dict(type='CenterCrop', crop_size=224)] + FORMAT),
    ('test (10 clips x ThreeCrop 256)', 30, [
        DECODE[0], dict(SAMPLE_32x2, num_clips=10, test_mode=True), DECODE[1],
        dict(type='Resize', scale=(-1, 256)),
        dict(type='ThreeCrop', crop_size=256)] + FORMAT),
]


class RepeatVideo(Dataset):
    """The same video ``length`` times through ``pipeline``."""

    def __init__(self, video, pipeline, length):
        self.video, self.pipeline, self.length = video, pipeline, length

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        return self.pipeline(dict(filename=self.video, label=0,
                                  start_index=0, modality='RGB'))


def seconds_per_sample(pipeline, video, repeats, decode_only=False):
    transforms = pipeline[:3] if decode_only else pipeline
    compose = Compose([TRANSFORMS.build(t) for t in transforms])
    results = dict(filename=video, label=0, start_index=0, modality='RGB')
    compose(dict(results))  # warm-up: opens the codec once
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        compose(dict(results))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def loader_rate(pipeline, video, workers, samples):
    """Samples a second delivered by a DataLoader with ``workers``."""
    compose = Compose([TRANSFORMS.build(t) for t in pipeline])
    loader = DataLoader(RepeatVideo(video, compose, samples + workers),
                        batch_size=1, num_workers=workers,
                        collate_fn=pseudo_collate)
    it = iter(loader)
    next(it)  # start-up of the workers is not throughput
    start = time.perf_counter()
    count = sum(1 for _ in it)
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--video', default=DEFAULT_VIDEO)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 1, 2])
    args = parser.parse_args()
    if not osp.isfile(args.video):
        parser.error(f'no video at {args.video}')
    init_default_scope('mmaction')
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    print(f'# MMAction2 CSN pipelines on {osp.basename(args.video)}, '
          f'{os.cpu_count()} CPUs, load average '
          f"{'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    print('| pipeline | decode s/sample | pipeline s/sample | '
          'model clips/sample | pipeline s/clip | ' + ' | '.join(
              f'loader samples/s, {w} workers' for w in args.workers) + ' |')
    print('|' + '---|' * (5 + len(args.workers)))
    for name, clips, pipeline in PIPELINES:
        decode = seconds_per_sample(pipeline, args.video, args.repeats, True)
        whole = seconds_per_sample(pipeline, args.video, args.repeats)
        rates = [loader_rate(pipeline, args.video, w, 2 * args.repeats)
                 for w in args.workers]
        print(f'| {name} | {decode:.3f} | {whole:.3f} | {clips} | '
              f'{whole / clips:.3f} | ' + ' | '.join(f'{r:.2f}' for r in rates)
              + ' |')
    print('\nMedians of {} runs in this process (1 torch/OpenCV thread), '
          'after one warm-up. Decode = DecordInit + SampleFrames + '
          'DecordDecode. Loader: the whole pipeline through a DataLoader, '
          'batch size 1; 0 workers is the main process.'.format(args.repeats))


if __name__ == '__main__':
    main()
