"""What is in this video? The top-k classes of a video or of every video in
a folder.

    python -m csn_plugin.tools.demo VIDEO_OR_DIR CONFIG CHECKPOINT \\
        [--label-map labels.txt] [--top-k 5] [--out summary.csv] \\
        [--out-video labelled.mp4] [--timeline timeline.png timeline.csv] \\
        [--device cpu]

Runs MMAction2's ``init_recognizer`` and ``inference_recognizer`` with the
config's test pipeline (all its clips and crops, class scores averaged as
probabilities) and prints each video's top-k labels with their scores.
Videos are ``.mp4``, ``.avi``, ``.webm`` and ``.mov`` files; a folder is
searched recursively, with a progress bar. There an unreadable video is
reported, skipped and counted, and the run goes on; a single unreadable
video is an error. ``--out`` writes a summary (``.csv`` or ``.json``);
``--out-video`` writes the video (for a folder: a folder of videos) with the
top labels drawn on every frame. ``--timeline`` (one video) plots the
probabilities of its top classes over time (``.png``, ``.pdf``, ``.svg``)
or tabulates them (``.csv``), from sliding clips streamed in memory bounded
by ``--max-memory``, whatever the video's length.
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
from mmengine.config import DictAction
from mmengine.dataset import Compose
from tqdm import tqdm

from csn_plugin.datasets.transforms import CorruptVideoError
from csn_plugin.tools.sliding_clips import parse_memory
from csn_plugin.tools.timeline import (TIMELINE_FORMATS, video_timeline,
                                       write_timeline)
from csn_plugin.tools.video_inference import (VIDEO_EXTENSIONS,
                                              default_device, find_videos,
                                              load_recognizer, open_video,
                                              read_frames)

__all__ = ['read_label_map', 'classify_videos', 'draw_labels', 'main']

#: The test pipeline's decoding steps and their checked versions, which
#: open files by path and raise CorruptVideoError naming the file.
CHECKED_STEPS = {
    'DecordInit': 'CheckedDecordInit',
    'DecordDecode': 'CheckedDecordDecode'
}
SUMMARY_FORMATS = ('.csv', '.json')
#: Frames decoded, labelled and written at a time by --out-video.
FRAMES_PER_CHUNK = 32


def read_label_map(path, num_classes):
    """Class names, one a line; ``None`` gives ``'class <i>'``."""
    if path is None:
        return [f'class {i}' for i in range(num_classes)]
    with open(path) as f:
        labels = [line.strip() for line in f if line.strip()]
    if len(labels) != num_classes:
        raise ValueError(f'{path} has {len(labels)} labels; the model has '
                         f'{num_classes} classes')
    return labels


def checked_pipeline(cfg):
    """The config's test pipeline with decord's steps checked."""
    steps = []
    for step in cfg.test_dataloader.dataset.pipeline:
        step = dict(step)
        step['type'] = CHECKED_STEPS.get(step['type'], step['type'])
        steps.append(step)
    return Compose(steps)


def classify_videos(model, videos, labels, top_k, skip_unreadable=True,
                    progress=True):
    """Top-k labels of each video.

    Args:
        model (nn.Module): From :func:`load_recognizer`.
        videos (list[str]): Video files.
        labels (list[str]): Class names.
        top_k (int): Labels kept per video.
        skip_unreadable (bool): Report, record and skip a video that cannot
            be read; otherwise raise. Defaults to True.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        list[dict]: One record a video: ``video``, ``status`` (``'ok'`` or
        ``'unreadable'``), ``top`` (``[(label, score), ...]``) or ``error``.
    """
    # Imported here, after csn_plugin: mmaction.apis imports mmaction.models,
    # which needs the plugin's fixes first.
    from mmaction.apis import inference_recognizer
    pipeline = checked_pipeline(model.cfg)
    records = []
    for video in tqdm(videos, unit='video', disable=not progress):
        try:
            sample = inference_recognizer(model, video, pipeline)
        except (CorruptVideoError, FileNotFoundError) as err:
            if not skip_unreadable:
                raise
            records.append(dict(video=video, status='unreadable',
                                error=str(err)))
            tqdm.write(f'{video}: skipped, {err}', file=sys.stderr)
            continue
        scores = sample.pred_score.cpu().numpy()
        best = np.argsort(-scores, kind='stable')[:top_k]
        top = [(labels[i], float(scores[i])) for i in best]
        records.append(dict(video=video, status='ok', top=top))
        tqdm.write(f'{video}:  ' + '  '.join(
            f'{label} {score:.3f}' for label, score in top))
    return records


def write_summary(records, path, top_k):
    if path.endswith('.json'):
        with open(path, 'w') as f:
            json.dump(records, f, indent=1)
        return
    header = ['video', 'status'] + [
        f'{kind}_{i}' for i in range(1, top_k + 1)
        for kind in ('label', 'score')
    ] + ['error']
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for record in records:
            top = [item for pair in record.get('top', []) for item in pair]
            top += [''] * (2 * top_k - len(top))
            writer.writerow([record['video'], record['status'], *top,
                             record.get('error', '')])


def draw_labels(frame, top):
    """``frame`` (RGB) with the ``(label, score)`` lines of ``top`` drawn in
    its top left corner, white on black."""
    frame = np.array(frame)  # a copy: the caller's frame stays as it is
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(frame.shape[0] / 480, 0.35)
    thickness = max(int(round(2 * scale)), 1)
    (_, height), baseline = cv2.getTextSize('Ag', font, scale, thickness)
    line = height + baseline + 4
    for i, (label, score) in enumerate(top):
        text = f'{label}: {score:.2f}'
        width = cv2.getTextSize(text, font, scale, thickness)[0][0]
        top_y = i * line
        cv2.rectangle(frame, (0, top_y), (width + 6, top_y + line - 1),
                      (0, 0, 0), -1)
        cv2.putText(frame, text, (3, top_y + 2 + height), font, scale,
                    (255, 255, 255), thickness, cv2.LINE_AA)
    return frame


def write_labelled_video(video, top, out):
    """Copy ``video`` to ``out`` (mp4v) with ``top`` drawn on each frame,
    a chunk of frames at a time."""
    reader = open_video(video)
    height, width = reader[0].shape[:2]
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*'mp4v'),
                             reader.get_avg_fps(), (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write {out}')
    try:
        for first in range(0, len(reader), FRAMES_PER_CHUNK):
            indices = range(first, min(first + FRAMES_PER_CHUNK,
                                       len(reader)))
            for frame in read_frames(reader, list(indices), video):
                writer.write(draw_labels(frame, top)[..., ::-1].copy())
    finally:
        writer.release()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Print the top-k classes of a video or of every video '
        f'({", ".join(VIDEO_EXTENSIONS)}) in a folder.')
    parser.add_argument('video', help='video file or folder of videos')
    parser.add_argument('config', help='recognizer config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--label-map', help='class names, one a line (default: class '
        'indices)')
    parser.add_argument('--top-k', type=int, default=5,
                        help='labels shown per video (default 5)')
    parser.add_argument(
        '--out', help='summary of every video: a .csv or .json file')
    parser.add_argument(
        '--out-video', help='write the video with its top labels drawn on '
        'it (.mp4); for a folder of videos, a folder')
    parser.add_argument(
        '--timeline', nargs='+', metavar='OUT',
        help='one video: the top classes over time, from sliding clips: a '
        f'plot or a table ({", ".join(TIMELINE_FORMATS)}), one or more')
    parser.add_argument(
        '--timeline-stride', type=int,
        help='frames between the starts of two timeline clips (default: '
        "the clip's span, clips side by side)")
    parser.add_argument(
        '--max-memory', default='1G',
        help='memory for a batch of timeline clips: decoded frames, network '
        'input and activations (default %(default)s)')
    parser.add_argument(
        '--device', default=default_device(),
        help='cpu, cuda or cuda:N (default: the GPU if there is one)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
        help='override config entries')
    parser.add_argument('--no-progress', action='store_true',
                        help='no progress bar')
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f'--top-k must be >= 1, got {args.top_k}')
    if args.out and not args.out.endswith(SUMMARY_FORMATS):
        parser.error(f'--out must end with {" or ".join(SUMMARY_FORMATS)}, '
                     f'got {args.out}')
    for out in args.timeline or []:
        if not out.lower().endswith(TIMELINE_FORMATS):
            parser.error(f'--timeline must end with one of '
                         f'{", ".join(TIMELINE_FORMATS)}, got {out}')
    if args.timeline_stride is not None and args.timeline_stride < 1:
        parser.error('--timeline-stride must be >= 1, got '
                     f'{args.timeline_stride}')
    try:
        args.max_memory = parse_memory(args.max_memory)
    except ValueError as err:
        parser.error(f'--max-memory: {err}')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        videos, others = find_videos(args.video)
        folder = osp.isdir(args.video)
        if (args.out_video and folder
                and args.out_video.lower().endswith(VIDEO_EXTENSIONS)):
            raise ValueError(f'{args.video} is a folder: --out-video must be '
                             f'a folder too, got {args.out_video}')
        if args.timeline and folder:
            raise ValueError(f'{args.video} is a folder: --timeline takes '
                             'one video')
        # Probabilities, whatever the config's average_clips.
        options = {'model.cls_head.average_clips': 'prob'}
        options.update(args.cfg_options or {})
        model = load_recognizer(args.config, args.checkpoint, args.device,
                                options)
        labels = read_label_map(args.label_map,
                                model.cls_head.num_classes)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'error: {err}')
    top_k = min(args.top_k, len(labels))
    try:
        records = classify_videos(
            model, videos, labels, top_k, skip_unreadable=folder,
            progress=folder and not args.no_progress)
    except (CorruptVideoError, FileNotFoundError) as err:
        raise SystemExit(f'error: {err}')
    if args.out_video:
        for record in records:
            if record['status'] != 'ok':
                continue
            out = args.out_video
            if folder:
                stem = osp.splitext(osp.relpath(record['video'],
                                                args.video))[0]
                out = osp.join(args.out_video, stem + '.mp4')
            write_labelled_video(record['video'], record['top'], out)
            record['out_video'] = out
    if args.timeline and records[0]['status'] == 'ok':
        try:
            timeline = video_timeline(
                model, videos[0], labels, args.timeline_stride,
                args.max_memory, progress=not args.no_progress)
        except (CorruptVideoError, FileNotFoundError) as err:
            raise SystemExit(f'error: {err}')
        write_timeline(timeline, args.timeline, top_k,
                       title=osp.basename(videos[0]))
    if args.out:
        write_summary(records, args.out, top_k)
    unreadable = sum(r['status'] != 'ok' for r in records)
    lines = [f'{len(records)} video(s): {len(records) - unreadable} '
             f'classified, {unreadable} unreadable']
    if others:
        lines.append(f'{len(others)} file(s) without a video extension '
                     f'left out, e.g. {others[0]}')
    if args.out_video:
        lines.append(f'labelled video(s): {args.out_video}')
    if args.timeline:
        lines.append(f'timeline of {len(timeline.times)} clips: '
                     f'{", ".join(args.timeline)}')
    if args.out:
        lines.append(f'summary: {args.out}')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
