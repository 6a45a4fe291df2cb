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
normalization), so features match what the recognizer sees; they are
decoded at the size the test pipeline's resize gives (``--decode full``:
at the video's size). Memory is bounded by settings, not by the video: a
batch of clips at a time, as many as ``--max-memory`` holds (decoded
frames, network input and activations; ``--batch-size`` fixes it instead).
Features are written in chunks of ``--chunk-clips`` clips next to the
``.npy``, each under a temporary name and renamed; a rerun of a killed run
continues a video from its last finished chunk, and skips videos whose
``.npy`` exists. A video that cannot be read is reported and listed in
``<out-dir>/summary.json``, and the run goes on. With ``--launcher pytorch``
(``torchrun``) each process takes every n-th video of the list; on CPUs
they talk over gloo.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import time

import numpy as np
import torch
from mmengine.config import DictAction
from tqdm import tqdm

from csn_plugin.datasets.transforms import CorruptVideoError
from csn_plugin.tools.runner_args import LAUNCHERS
from csn_plugin.tools.sliding_clips import (DECODE_MODES, SlidingClipRunner,
                                            clip_chunks, clip_starts,
                                            parse_memory, pipeline_sampling)
from csn_plugin.tools.video_inference import load_recognizer

__all__ = [
    'clip_starts', 'clip_chunks', 'ClipFeatureExtractor', 'ChunkStore',
    'read_video_list', 'main'
]

SUMMARY = 'summary.json'
#: Default --max-memory: decoded frames, network input and activations of
#: a batch.
DEFAULT_MAX_MEMORY = '1G'
#: Default --chunk-clips: clips a resumable chunk (rounded up to whole
#: batches).
DEFAULT_CHUNK_CLIPS = 32


class ChunkStore:
    """The finished chunks of one video's features, next to its ``.npy``:
    ``<name>.npy.chunks/`` holds ``state.json`` (the settings the chunks
    were made with) and ``00000.npy``, ``00001.npy``, ..., each written
    under a temporary name and renamed.

    Args:
        out (str): The video's final ``.npy``.
    """

    STATE = 'state.json'

    def __init__(self, out):
        self.out = out
        self.folder = out + '.chunks'

    def chunk_file(self, index):
        return osp.join(self.folder, f'{index:05d}.npy')

    def resume(self, settings):
        """``(state, chunks done)`` of an earlier run with the same
        ``settings``; ``(None, 0)`` (and the chunks removed) if there is
        none or its settings differ."""
        try:
            with open(osp.join(self.folder, self.STATE)) as f:
                state = json.load(f)
        except (OSError, ValueError):
            state = None
        if state is None or state.get('settings') != settings:
            shutil.rmtree(self.folder, ignore_errors=True)
            return None, 0
        done = 0
        while osp.isfile(self.chunk_file(done)):
            done += 1
        return state, done

    def start(self, state):
        """Record ``state`` (``settings``, ``batch_size``, ``chunk_clips``)
        for a later run to resume from."""
        os.makedirs(self.folder, exist_ok=True)
        partial = osp.join(self.folder, self.STATE + '.part')
        with open(partial, 'w') as f:
            json.dump(state, f)
        os.replace(partial, osp.join(self.folder, self.STATE))

    def write(self, index, features):
        save_atomic(self.chunk_file(index), features)

    def finish(self, chunks):
        """Join the ``chunks`` chunk files into the final ``.npy`` (written
        atomically), then remove them; the array."""
        features = np.concatenate(
            [np.load(self.chunk_file(i)) for i in range(chunks)])
        save_atomic(self.out, features)
        shutil.rmtree(self.folder)
        return features


class ClipFeatureExtractor:
    """Features of the sliding clips of a video, whole or a chunk at a time
    into a resumable ``.npy``.

    Args:
        model, clip_len, frame_interval, stride, max_memory, decode: As
            :class:`~csn_plugin.tools.sliding_clips.SlidingClipRunner`.
        batch_size (int | None): Clips decoded and run together; None: as
            many as ``max_memory`` holds. Defaults to None.
        chunk_clips (int): Clips a resumable chunk, rounded up to whole
            batches. Defaults to 32.
    """

    def __init__(self, model, clip_len, frame_interval, stride,
                 batch_size=None, max_memory=1024**3, decode='pipeline',
                 chunk_clips=DEFAULT_CHUNK_CLIPS):
        if chunk_clips < 1:
            raise ValueError(f'chunk_clips must be >= 1, got {chunk_clips}')
        self.runner = SlidingClipRunner(model, clip_len, frame_interval,
                                        stride, max_memory, batch_size,
                                        decode)
        self.chunk_clips = chunk_clips

    def __call__(self, path, progress=False):
        """``(num_clips, C)`` float32 features of the video at ``path``.

        Raises:
            FileNotFoundError: No such file.
            CorruptVideoError: The video or one of its frames cannot be read.
        """
        return self.runner.run_video(path, progress=progress)[1]

    def settings(self, video):
        """What the chunks of ``video`` depend on."""
        runner = self.runner
        return dict(
            clip_len=runner.clip_len,
            frame_interval=runner.frame_interval,
            stride=runner.stride,
            frames=video.num_frames,
            frame_shape=list(runner.frame_shape(video)))

    def extract_to(self, path, out, progress=False, desc=None):
        """Features of the video at ``path`` into ``out`` (.npy), a chunk
        at a time, resuming from the chunks an interrupted run left.

        Returns:
            dict: ``clips``, ``batch_size``, ``frame_shape`` (decoded),
            ``chunks_reused`` and ``chunks_written``.
        """
        video = self.runner.open(path)
        store = ChunkStore(out)
        settings = self.settings(video)
        state, done = store.resume(settings)
        if state is None:
            batch = self.runner.batch_size(video)
            # Chunks of whole batches: a resumed run runs the same batches.
            state = dict(settings=settings, batch_size=int(batch),
                         chunk_clips=-(-self.chunk_clips // batch) * batch)
            store.start(state)
        batch, chunk = state['batch_size'], state['chunk_clips']
        total = -(-video.num_clips // chunk)
        written, pending = 0, []
        with tqdm(total=video.num_clips, initial=min(done * chunk,
                                                     video.num_clips),
                  unit='clip', desc=desc, leave=False,
                  disable=not progress) as bar:
            for _, feats in self.runner.stream(video, batch, done * chunk,
                                               progress=bar):
                pending.append(feats)
                if sum(map(len, pending)) == chunk:
                    store.write(done + written, np.concatenate(pending))
                    written, pending = written + 1, []
            if pending:
                store.write(done + written, np.concatenate(pending))
                written += 1
        assert done + written == total, (done, written, total)
        features = store.finish(total)
        return dict(clips=len(features), batch_size=batch,
                    frame_shape=settings['frame_shape'],
                    chunks_reused=done, chunks_written=written)


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
        '--max-memory', default=DEFAULT_MAX_MEMORY,
        help='memory for a batch of clips: decoded frames, network input '
        'and activations, e.g. 512M, 2G (default %(default)s); the batch '
        'size follows from it')
    parser.add_argument(
        '--batch-size', type=int,
        help='clips decoded and run together, instead of what --max-memory '
        'holds')
    parser.add_argument(
        '--chunk-clips', type=int, default=DEFAULT_CHUNK_CLIPS,
        help='clips a chunk written to disk; a killed run resumes from its '
        'last chunk (default %(default)s, rounded up to whole batches)')
    parser.add_argument(
        '--decode', choices=DECODE_MODES, default='pipeline',
        help="pipeline: decode at the size of the test pipeline's resize "
        "(default); full: at the video's size, then resize as MMAction2 "
        'does')
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
        ``'already done'`` or ``'failed'``), ``clips`` (and how it ran) or
        ``error``.
    """
    records = []
    bar = tqdm(videos, desc='videos', unit='video', disable=not progress)
    for name, path in bar:
        out = osp.join(out_dir, osp.splitext(name)[0] + '.npy')
        if osp.isfile(out):
            records.append(dict(video=name, status='already done'))
            continue
        try:
            done = extractor.extract_to(path, out, progress=progress,
                                        desc=osp.basename(name))
        except (FileNotFoundError, CorruptVideoError) as err:
            tqdm.write(f'skipped {name}: {err}', file=sys.stderr)
            records.append(dict(video=name, status='failed', error=str(err)))
            continue
        records.append(dict(video=name, status='done', **done))
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
        clip_len, frame_interval = pipeline_sampling(model.cfg)
        if args.clip_len is not None:
            clip_len = args.clip_len
        if args.frame_interval is not None:
            frame_interval = args.frame_interval
        stride = (clip_len * frame_interval
                  if args.stride is None else args.stride)
        extractor = ClipFeatureExtractor(
            model, clip_len, frame_interval, stride, args.batch_size,
            parse_memory(args.max_memory), args.decode, args.chunk_clips)
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
        max_memory=args.max_memory,
        decode=args.decode,
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
