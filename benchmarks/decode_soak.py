"""Decoding soak: decode thousands of clips with DataLoader workers and watch
their memory.

decord has known memory leaks (dmlc/decord#208, #197). This script decodes
``--clips`` clips (default 5000) through the quickstart's training pipeline
(``CheckedVideoDataset``: ``CheckedDecordInit``, 8x2 ``SampleFrames``,
``CheckedDecordDecode``, resize, random crop) with ``--workers`` DataLoader
workers (default 2), from a generated motion dataset (made in a temporary
folder) and the real videos of ``tests/data``, drawn at random (half of the
clips from the shared videos, ``--shared-fraction``). Every
``--report-every`` clips (default 500) it prints the RSS of the main process
and of each worker, and how many workers were started (recycled ones
included) and lost (died). At the end it prints how each RSS changed from
the first report to the last and to its highest, and exits with 1 if one
rose above the first report by more than ``--tolerance`` (10 %) at any
report, or a worker was lost.

``--tasks-per-worker N`` recycles the workers after N clips each (a new
DataLoader iterator, so new worker processes): the mitigation for a decoder
that leaks.

    python benchmarks/decode_soak.py [--clips 5000] [--workers 2]
"""
import argparse
import os.path as osp
import sys
import tempfile
import time

import psutil
import torch
from torch.utils.data import DataLoader

import csn_plugin  # noqa: F401  (registers the dataset and transforms)
from csn_plugin.datasets import generate_motion_dataset
from csn_plugin.models.acceleration import cpu_summary
from mmaction.registry import DATASETS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
SHARED_DATA = osp.join(REPO, 'tests', 'data')
PIPELINE_CONFIG = osp.join(REPO, 'configs', '_base_', 'datasets',
                           'motion_8x112_video.py')
MIB = 2**20


def make_list(folder, generated_per_class, shared_data):
    """A list file of generated videos, then the shared ones; returns its
    path, how many shared videos it lists and a description."""
    lists = generate_motion_dataset(
        folder,
        videos_per_class=dict(train=generated_per_class, val=0, test=0),
        num_frames=40,
        size=128,
        progress=False)
    video_dir = osp.join(folder, 'videos_train')
    with open(lists['train']) as f:
        lines = [f'{osp.join(video_dir, line.strip())}\n' for line in f
                 if line.strip()]
    described = [f'{len(lines)} generated (128x128, 40 frames)']
    shared = [name for name in ('test.mp4', 'test.avi')
              if osp.isfile(osp.join(shared_data, name))]
    lines += [f'{osp.abspath(osp.join(shared_data, name))} 0\n'
              for name in shared]
    ann = osp.join(folder, 'soak_list.txt')
    with open(ann, 'w') as f:
        f.writelines(lines)
    return ann, len(shared), f'{len(lines)} videos: ' + ', '.join(
        described + shared)


def draw_clips(num_videos, num_shared, shared_fraction, clips, seed):
    """Random list indices: ``shared_fraction`` of them among the last
    ``num_shared`` entries, the rest among the others."""
    num_generated = num_videos - num_shared
    weights = torch.full((num_videos, ), (1 - shared_fraction) /
                         max(num_generated, 1))
    if num_shared:
        weights[num_generated:] = shared_fraction / num_shared
    generator = torch.Generator().manual_seed(seed)
    return torch.multinomial(weights, clips, replacement=True,
                             generator=generator).tolist()


def rss_mib(pid):
    try:
        return psutil.Process(pid).memory_info().rss / MIB
    except psutil.NoSuchProcess:
        return float('nan')


class Monitor:
    """Counts clips and workers; prints a row every ``every`` clips."""

    def __init__(self, every, num_workers):
        self.every = every
        self.num_workers = num_workers
        self.clips = 0
        self.started, self.lost = set(), 0
        self.rows = []  # (clips, main RSS, [worker RSS])
        self.start = time.perf_counter()

    def header(self):
        workers = ' '.join(f'{f"worker {i}":>9}'
                           for i in range(self.num_workers))
        print(f'{"clips":>7} {"elapsed s":>10} {"main RSS":>9} {workers}'
              '   workers started, lost   (RSS in MiB)')

    def see_workers(self, pids):
        self.started.update(pids)

    def clip_done(self, worker_pids):
        self.clips += 1
        if self.clips % self.every:
            return
        main = rss_mib(psutil.Process().pid)
        workers = [rss_mib(pid) for pid in worker_pids]
        self.rows.append((self.clips, main, workers))
        print(f'{self.clips:>7} {time.perf_counter() - self.start:>10.1f} '
              f'{main:>9.1f} ' + ' '.join(f'{w:>9.1f}' for w in workers) +
              f'   {len(self.started):>15}, {self.lost}',
              flush=True)


def soak(dataset, indices, num_workers, tasks_per_worker, monitor):
    """Decode the clips ``indices``; a new iterator (new workers) every
    ``tasks_per_worker * num_workers`` clips, or once a worker died."""
    chunk = (tasks_per_worker * num_workers if tasks_per_worker else
             len(indices))
    position = 0
    while position < len(indices):
        todo = indices[position:position + chunk]
        loader = DataLoader(dataset, batch_size=1, sampler=todo,
                            num_workers=num_workers,
                            collate_fn=pseudo_collate, timeout=120,
                            multiprocessing_context='fork')
        batches = iter(loader)
        pids = [w.pid for w in getattr(batches, '_workers', [])]
        monitor.see_workers(pids)
        done = 0
        try:
            for _ in batches:
                done += 1
                monitor.clip_done(pids)
        except RuntimeError as err:  # a worker died: count it, go on
            if 'DataLoader worker' not in str(err):
                raise
            monitor.lost += 1
            print(f'  worker lost: {str(err).splitlines()[0]}', flush=True)
        finally:
            if hasattr(batches, '_shutdown_workers'):
                batches._shutdown_workers()
        position += max(done, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--clips', type=int, default=5000)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--report-every', type=int, default=500)
    parser.add_argument('--tasks-per-worker', type=int, default=0,
                        help='recycle each worker after this many clips '
                        '(0: never)')
    parser.add_argument('--generated-per-class', type=int, default=10,
                        help='generated videos of each of the 4 classes')
    parser.add_argument('--shared-data', default=SHARED_DATA)
    parser.add_argument('--shared-fraction', type=float, default=0.5,
                        help='fraction of the clips from the shared videos')
    parser.add_argument('--tolerance', type=float, default=0.10)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error('--workers must be at least 1')

    init_default_scope('mmaction')
    pipeline = Config.fromfile(PIPELINE_CONFIG).train_pipeline
    with tempfile.TemporaryDirectory() as folder:
        ann, num_shared, videos = make_list(folder, args.generated_per_class,
                                            args.shared_data)
        dataset = DATASETS.build(
            dict(type='CheckedVideoDataset', ann_file=ann, pipeline=pipeline,
                 data_prefix=dict(video='')))
        indices = draw_clips(len(dataset), num_shared, args.shared_fraction,
                             args.clips, args.seed)
        recycling = (f'recycled every {args.tasks_per_worker} clips'
                     if args.tasks_per_worker else 'never recycled')
        print(f'CPU: {cpu_summary()}; torch {torch.__version__}, '
              f'{torch.get_num_threads()} threads')
        print(f'Decode soak: {args.clips} clips of {videos}, drawn at '
              f'random ({100 * args.shared_fraction:.0f} % from the shared '
              f'videos); quickstart training pipeline; {args.workers} '
              f'DataLoader workers, {recycling}.')
        monitor = Monitor(args.report_every, args.workers)
        monitor.header()
        soak(dataset, indices, args.workers, args.tasks_per_worker, monitor)

    if len(monitor.rows) < 2:
        print('Fewer than two reports: no growth to measure.')
        return 0
    first_clips, last_clips = monitor.rows[0][0], monitor.rows[-1][0]
    series = [('main', [row[1] for row in monitor.rows])] + [
        (f'worker {i}', [row[2][i] for row in monitor.rows])
        for i in range(args.workers)
    ]

    def growth(pick):
        return {name: (pick(values) - values[0]) / values[0]
                for name, values in series}

    def listed(changes):
        return ', '.join(f'{name} {100 * change:+.1f} %'
                         for name, change in changes.items())

    last, peak = growth(lambda v: v[-1]), growth(max)
    flat = max(peak.values()) <= args.tolerance
    print(f'RSS from the first report ({first_clips} clips) to the last '
          f'({last_clips}): {listed(last)}; highest: {listed(peak)} (limit '
          f'{100 * args.tolerance:.0f} %): ' + ('flat' if flat else 'GROWS') +
          f'. Workers started {len(monitor.started)}, lost {monitor.lost}.')
    return 0 if flat and not monitor.lost else 1


if __name__ == '__main__':
    sys.exit(main())
