"""Clip features of whole videos, for temporal action localization.

    python -m csn_plugin.tools.extract_features CONFIG CHECKPOINT \\
        --video-list videos.txt --video-root videos/ --out-dir feats/
    torchrun --nproc-per-node 4 -m csn_plugin.tools.extract_features \\
        CONFIG CHECKPOINT --video-list ... --launcher pytorch

Each listed video gets ``<out-dir>/<listed path without extension>.npy``: a
``(num_clips, C)`` float32 array, one row per sliding clip of ``--clip-len``
frames taken every ``--frame-interval`` frames, clips starting every
``--stride`` frames (clip ``k`` covers frames ``k * stride`` to
``k * stride + (clip_len - 1) * frame_interval``; only whole clips, or one
clip padded with the last frame for a video shorter than a clip). A row is
the backbone's output averaged over time and space.

Frames go through the config's test transforms (resize, one center crop,
normalization), so features match what the recognizer sees. Videos are read
a chunk of ``--batch-size`` clips at a time, by frame index: memory does not
grow with the video's length. A video whose ``.npy`` exists is skipped, so a
killed run resumes where it stopped; files are written under a temporary
name and renamed, so none is ever half written. A video that cannot be read
is reported and listed in ``<out-dir>/summary.json``, and the run goes on.
With ``--launcher pytorch`` (``torchrun``) each process takes every n-th
video of the list; on CPUs they talk over gloo.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from tqdm import tqdm

from csn_plugin.datasets.transforms import CorruptVideoError
from csn_plugin.tools.runner_args import LAUNCHERS
from csn_plugin.tools.video_inference import (frame_transforms,
                                              load_recognizer, open_video,
                                              read_frames)

__all__ = [
    'clip_starts', 'clip_chunks', 'ClipFeatureExtractor', 'read_video_list',
    'main'
]

SUMMARY = 'summary.json'


def clip_starts(total_frames, clip_len, frame_interval, stride):
    """First frame of every sliding clip of a ``total_frames`` video."""
    span = (clip_len - 1) * frame_interval + 1
    return np.arange(0, max(total_frames - span, 0) + 1, stride)


def clip_chunks(total_frames, clip_len, frame_interval, stride, chunk):
    """Frame indices of the clips, ``chunk`` clips at a time.

    Yields:
        np.ndarray: ``(n, clip_len)`` indices, ``n <= chunk``; indices past
        the last frame (a video shorter than one clip) are the last frame.
    """
    starts = clip_starts(total_frames, clip_len, frame_interval, stride)
    offsets = np.arange(clip_len) * frame_interval
    for first in range(0, len(starts), chunk):
        indices = starts[first:first + chunk, None] + offsets[None]
        yield np.minimum(indices, total_frames - 1)


class ClipFeatureExtractor:
    """Features of the sliding clips of a video.

    Args:
        model (nn.Module): A 3D recognizer from
            :func:`~csn_plugin.tools.video_inference.load_recognizer`.
        clip_len (int): Frames a clip.
        frame_interval (int): Step between a clip's frames.
        stride (int): Step between the first frames of two clips.
        batch_size (int): Clips decoded and run together. Defaults to 8.
    """

    def __init__(self, model, clip_len, frame_interval, stride, batch_size=8):
        for name, value in (('clip_len', clip_len),
                            ('frame_interval', frame_interval),
                            ('stride', stride), ('batch_size', batch_size)):
            if value < 1:
                raise ValueError(f'{name} must be >= 1, got {value}')
        self.model = model
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.stride = stride
        self.batch_size = batch_size
        self.transforms = frame_transforms(model.cfg)

    def __call__(self, path):
        """``(num_clips, C)`` float32 features of the video at ``path``.

        Raises:
            FileNotFoundError: No such file.
            CorruptVideoError: The video or one of its frames cannot be read.
        """
        reader = open_video(path)
        features = []
        for indices in clip_chunks(
                len(reader), self.clip_len, self.frame_interval, self.stride,
                self.batch_size):
            # Each frame decoded once, however many clips share it.
            unique, inverse = np.unique(indices, return_inverse=True)
            frames = read_frames(reader, unique, path)
            features.append(
                self.features(list(frames[inverse.ravel()]), len(indices)))
        return np.concatenate(features)

    @torch.no_grad()
    def features(self, frames, num_clips):
        """Features of ``num_clips`` clips given as one list of frames."""
        shape = frames[0].shape[:2]
        packed = self.transforms(
            dict(
                imgs=frames,
                num_clips=num_clips,
                clip_len=self.clip_len,
                original_shape=shape,
                img_shape=shape,
                modality='RGB'))
        data = self.model.data_preprocessor(pseudo_collate([packed]), False)
        feats, _ = self.model.extract_feat(data['inputs'], stage='neck')
        # (num_clips, C, T, H, W) -> (num_clips, C)
        return feats.mean(dim=(2, 3, 4)).float().cpu().numpy()


def read_video_list(list_file, video_root=None):
    """``(listed name, path)`` of each video of an MMAction2 video list
    (``<path> [label ...]`` a line; blank lines ignored).

    Raises:
        ValueError: The list is empty, a path is absolute or goes up
            (``..``), out of the output folder, or two lines would write
            the same ``.npy`` (the same path without its extension).
    """
    if not osp.isfile(list_file):
        raise FileNotFoundError(f'video list not found: {list_file}')
    videos, seen = [], {}
    with open(list_file) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            name = line.split()[0]
            stem = osp.splitext(osp.normpath(name))[0]
            if osp.isabs(name) or stem.split(os.sep)[0] == '..':
                raise ValueError(
                    f'{list_file}:{lineno}: {name!r} must be a path '
                    'relative to --video-root, inside it: its features go '
                    'to the same path under --out-dir')
            if stem in seen:
                raise ValueError(
                    f'{list_file}:{lineno}: {name!r} would write the same '
                    f'{stem}.npy as line {seen[stem]}')
            seen[stem] = lineno
            videos.append((name, osp.join(video_root or '', name)))
    if not videos:
        raise ValueError(f'{list_file} lists no videos')
    return videos


def save_atomic(path, array):
    """Write ``array`` to ``path`` (.npy) through a temporary file."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    partial = f'{path}.part'
    with open(partial, 'wb') as f:
        np.save(f, array)
    os.replace(partial, path)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write (num_clips, C) features of sliding clips of each '
        'listed video, one .npy a video.')
    parser.add_argument('config', help='recognizer config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--video-list', required=True,
        help='MMAction2 video list: "<path> [label]" a line')
    parser.add_argument(
        '--video-root', default='',
        help='folder the listed paths are relative to')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument(
        '--clip-len', type=int,
        help="frames a clip (default: the config's test SampleFrames)")
    parser.add_argument(
        '--frame-interval', type=int,
        help="step between a clip's frames (default: the config's)")
    parser.add_argument(
        '--stride', type=int,
        help='step between the first frames of two clips (default: '
        'clip-len x frame-interval, clips side by side)')
    parser.add_argument(
        '--batch-size', type=int, default=8,
        help='clips decoded and run together; bounds memory (default 8)')
    parser.add_argument(
        '--device', help='cpu, cuda or cuda:N (default: the GPU if there '
        'is one, with --launcher the local rank\'s)')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none',
        help='pytorch: started by torchrun, each process takes its share')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        metavar='KEY=VALUE', help='override config entries')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def sampling_defaults(cfg):
    """``clip_len`` and ``frame_interval`` of the test ``SampleFrames``."""
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'SampleFrames':
            return step['clip_len'], step.get('frame_interval', 1)
    raise ValueError('no SampleFrames in the test pipeline: give --clip-len '
                     'and --frame-interval')


def init_processes(launcher):
    """Start the process group; ``(rank, world size, local rank)``."""
    if launcher == 'none':
        return 0, 1, 0
    from mmengine.dist import get_dist_info, init_dist
    init_dist(launcher, backend='nccl' if torch.cuda.is_available() else
              'gloo')
    rank, world_size = get_dist_info()
    return rank, world_size, int(os.environ.get('LOCAL_RANK', 0))


def gather(records, world_size):
    if world_size == 1:
        return records
    parts = [None] * world_size
    torch.distributed.all_gather_object(parts, records)
    return [record for part in parts for record in part]


def extract_all(extractor, videos, out_dir, progress=True):
    """Features of ``videos`` (``(name, path)`` pairs) into ``out_dir``.

    Returns:
        list[dict]: One record a video: ``video``, ``status`` (``'done'``,
        ``'already done'`` or ``'failed'``), ``clips`` or ``error``.
    """
    records = []
    bar = tqdm(videos, desc='videos', unit='video', disable=not progress)
    for name, path in bar:
        out = osp.join(out_dir, osp.splitext(name)[0] + '.npy')
        if osp.isfile(out):
            records.append(dict(video=name, status='already done'))
            continue
        try:
            features = extractor(path)
        except (FileNotFoundError, CorruptVideoError) as err:
            tqdm.write(f'skipped {name}: {err}', file=sys.stderr)
            records.append(dict(video=name, status='failed', error=str(err)))
            continue
        save_atomic(out, features)
        records.append(dict(video=name, status='done', clips=len(features)))
    return records


def main(argv=None):
    args = parse_args(argv)
    rank, world_size, local_rank = init_processes(args.launcher)
    device = args.device or (f'cuda:{local_rank}'
                             if torch.cuda.is_available() else 'cpu')
    try:
        videos = read_video_list(args.video_list, args.video_root)
        model = load_recognizer(args.config, args.checkpoint, device,
                                args.cfg_options)
        clip_len, frame_interval = sampling_defaults(model.cfg)
        if args.clip_len is not None:
            clip_len = args.clip_len
        if args.frame_interval is not None:
            frame_interval = args.frame_interval
        stride = (clip_len * frame_interval
                  if args.stride is None else args.stride)
        extractor = ClipFeatureExtractor(model, clip_len, frame_interval,
                                         stride, args.batch_size)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'error: {err}')
    start = time.perf_counter()
    records = extract_all(extractor, videos[rank::world_size], args.out_dir,
                          progress=rank == 0 and not args.no_progress)
    records = gather(records, world_size)
    if world_size > 1:
        torch.distributed.destroy_process_group()
    if rank != 0:
        return
    counts = {
        status: sum(r['status'] == status for r in records)
        for status in ('done', 'already done', 'failed')
    }
    summary = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        clip_len=clip_len,
        frame_interval=frame_interval,
        stride=stride,
        processes=world_size,
        seconds=round(time.perf_counter() - start, 2),
        counts=counts,
        videos=sorted(records, key=lambda r: r['video']))
    os.makedirs(args.out_dir, exist_ok=True)
    summary_file = osp.join(args.out_dir, SUMMARY)
    with open(summary_file, 'w') as f:
        json.dump(summary, f, indent=1)
    clips = sum(r.get('clips', 0) for r in records)
    print(f'{len(records)} videos: {counts["done"]} extracted ({clips} '
          f'clips of {clip_len}x{frame_interval} frames every {stride}, '
          f'{summary["seconds"]:.1f} s), {counts["already done"]} already '
          f'done, {counts["failed"]} failed; summary: {summary_file}')


if __name__ == '__main__':
    main()
