"""csn_plugin's feature extractor next to MMAction2's clip_feature_extraction.

Both tools run, one after the other, as the user runs them (separate
processes, end to end: start-up, model loading, decoding, network), on the
same videos and the same weights, with the same clips:

* ``python -m csn_plugin.tools.extract_features CONFIG CKPT --clip-len L
  --frame-interval I --stride L*I``
* ``mim run mmaction clip_feature_extraction CONFIG CKPT OUT
  --long-video-mode --clip-interval L*I --frame-interval I`` (its clips are
  centred every L*I frames, which for an even L are the same clips; it may
  add one clip at the end, clamped to the last frame, left out of the
  comparison).

Videos: ``tests/data/test.mp4`` and ``test.avi`` and generated videos of
``--frames`` frames (320x240, 30 fps), each length a run of its own, so peak
memory can be told apart by length. The weights are the config's network
with random weights (seed 0), saved as a checkpoint. Multi-crop test views
become one center crop in both. Prints clips/s (end to end) and peak RSS
(the whole process tree, sampled every 50 ms) of each tool, and the largest
difference between their features.

    python benchmarks/feature_extraction.py [--config CONFIG] \\
        [--frames 600 2400] [--threads 2]

With ``--resolutions`` it measures instead the plugin's extractor alone on
videos of each size (``tests/data/test.mp4`` looped to ``--seconds`` and
scaled, H.264, made with imageio-ffmpeg's ffmpeg), with its defaults (frames
decoded at the test pipeline's size, batches from ``--max-memory``) and
with the route it had before (``--decode full --batch-size 8``): clips/s of
the extraction (model loading left out), peak RSS of the process and the
largest difference between the two routes' features.

    python benchmarks/feature_extraction.py --resolutions 320x240 \\
        1280x720 1920x1080 --seconds 120 --stride 256
"""
import argparse
import glob
import json
import logging
import os
import os.path as osp
import pickle
import subprocess
import sys
import tempfile
import threading
import time

import cv2
import numpy as np
import psutil
import torch

from csn_plugin.models.acceleration import cpu_summary

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
SHARED = osp.join(REPO, 'tests', 'data')
DEFAULT_CONFIG = osp.join(REPO, 'configs',
                          'ircsn_ig65m_r50_bnfrozen_32x2x1_kinetics400.py')
BIN = osp.dirname(sys.executable)


def write_long_video(path, frames, size=(320, 240), fps=30, seed=0):
    """A texture drifting diagonally, written frame by frame."""
    rng = np.random.default_rng(seed)
    width, height = size
    texture = cv2.resize(
        rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8),
        (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             size)
    for t in range(frames):
        top, left = (2 * t) % height, (3 * t) % width
        writer.write(np.ascontiguousarray(
            texture[top:top + height, left:left + width]))
    writer.release()


def save_random_checkpoint(config, path):
    """The config's recognizer with random weights (seed 0)."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    import csn_plugin  # noqa: F401
    from mmaction.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model.backbone.pretrained = None
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # init_weights logs every parameter at INFO
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, path)
    return cfg


def run_measured(cmd, env):
    """Run ``cmd``; (seconds, peak RSS MiB of its process tree, output)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    root, peak = psutil.Process(proc.pid), 0
    output = []
    reader = threading.Thread(
        target=lambda: output.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        try:
            tree = [root] + root.children(recursive=True)
            rss = sum(p.memory_info().rss for p in tree)
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        time.sleep(0.05)
    reader.join()
    seconds = time.perf_counter() - start
    text = ''.join(output)
    if proc.returncode != 0:
        sys.stderr.write(text[-4000:])
        raise RuntimeError(f'{" ".join(cmd)} exited with {proc.returncode}')
    return seconds, peak / 2**20, text


def crop_options(cfg):
    """--cfg-options making a multi-crop test view one center crop, as
    csn_plugin's extractor does (MMAction2's tool only replaces TenCrop)."""
    options = []
    for i, step in enumerate(cfg.test_dataloader.dataset.pipeline):
        if step['type'] in ('ThreeCrop', 'TenCrop'):
            options.append(f'test_dataloader.dataset.pipeline.{i}.type='
                           'CenterCrop')
    return options


def compare(ours_dir, theirs_dir, names):
    """(clips ours, clips theirs, max abs diff, max abs of theirs) over the
    clips both have."""
    ours_clips = theirs_clips = 0
    diff = scale = 0.0
    for name in names:
        ours = np.load(osp.join(ours_dir, osp.splitext(name)[0] + '.npy'))
        with open(osp.join(theirs_dir, name + '.pkl'), 'rb') as f:
            theirs = pickle.load(f).numpy()
        assert theirs.shape[1] == ours.shape[1] and len(theirs) >= len(ours)
        ours_clips += len(ours)
        theirs_clips += len(theirs)
        diff = max(diff, float(np.abs(ours - theirs[:len(ours)]).max()))
        scale = max(scale, float(np.abs(theirs[:len(ours)]).max()))
    return ours_clips, theirs_clips, diff, scale


def run_case(label, key, videos, root, cfg, args, work, env):
    """Both tools on ``videos`` under ``root``; prints one table row."""
    list_file = osp.join(work, f'{key}.txt')
    with open(list_file, 'w') as f:
        f.write(''.join(f'{name}\n' for name in videos))
    clip_len, interval = args.clip_len, args.frame_interval
    ours_dir = osp.join(work, f'{key}_ours')
    theirs_dir = osp.join(work, f'{key}_mmaction')
    ours = run_measured([
        sys.executable, '-m', 'csn_plugin.tools.extract_features',
        args.config, args.checkpoint, '--video-list', list_file,
        '--video-root', root, '--out-dir', ours_dir, '--clip-len',
        str(clip_len), '--frame-interval', str(interval), '--stride',
        str(clip_len * interval), '--device', 'cpu', '--no-progress'
    ], env)
    theirs = run_measured([
        osp.join(BIN, 'mim'), 'run', 'mmaction', 'clip_feature_extraction',
        args.config, args.checkpoint, theirs_dir, '--video-list', list_file,
        '--video-root', root, '--long-video-mode', '--clip-interval',
        str(clip_len * interval), '--frame-interval', str(interval),
        '--cfg-options', f'test_dataloader.num_workers={args.workers}',
        'test_dataloader.persistent_workers=False', *crop_options(cfg)
    ], env)
    n_ours, n_theirs, diff, scale = compare(ours_dir, theirs_dir, videos)
    print(f'| {label} | {n_ours} / {n_theirs} | '
          f'{n_ours / ours[0]:.2f} ({ours[0]:.1f} s) | '
          f'{n_theirs / theirs[0]:.2f} ({theirs[0]:.1f} s) | '
          f'**{(n_ours / ours[0]) / (n_theirs / theirs[0]):.2f}x** | '
          f'{ours[1]:.0f} | {theirs[1]:.0f} | {diff:.2e} ({diff / scale:.1e})'
          ' |', flush=True)


def scaled_video(path, size, seconds, source):
    """``source`` looped to ``seconds`` and scaled to ``size`` (WxH), H.264
    (yuv420p, 30 fps), by imageio-ffmpeg's ffmpeg."""
    import imageio_ffmpeg
    width, height = size.split('x')
    subprocess.run([
        imageio_ffmpeg.get_ffmpeg_exe(), '-loglevel', 'error', '-y',
        '-stream_loop', '-1', '-i', source, '-t', str(seconds), '-vf',
        f'scale={width}:{height}', '-r', '30', '-c:v', 'libx264', '-preset',
        'veryfast', '-pix_fmt', 'yuv420p', path
    ], check=True)


def peak_rss_of(cmd, env):
    """Run ``cmd``; (peak RSS MiB of the process from wait4, output)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(output[-4000:])
        raise RuntimeError(f'{" ".join(cmd)} failed')
    return usage.ru_maxrss / 1024, output


ROUTES = (('defaults', []),
          ('before: --decode full --batch-size 8',
           ['--decode', 'full', '--batch-size', '8']))


def run_resolutions(args, env):
    """The plugin's extractor on videos of each of ``args.resolutions``,
    both routes; prints one table row a run."""
    print('| video | route | clips | batch | decoded at | clips/s '
          '(extraction s) | peak RSS MiB | load avg | max abs diff to '
          'before (rel.) |')
    print('|---|---|---:|---:|---|---:|---:|---|---:|')
    with tempfile.TemporaryDirectory() as work:
        args.checkpoint = osp.join(work, 'random.pth')
        save_random_checkpoint(args.config, args.checkpoint)
        for size in args.resolutions:
            name = f'v{size}.mp4'
            scaled_video(osp.join(work, name), size, args.seconds,
                         osp.join(args.shared_data, 'test.mp4'))
            list_file = osp.join(work, f'{size}.txt')
            with open(list_file, 'w') as f:
                f.write(name + '\n')
            features = {}
            for route, extra in reversed(ROUTES):
                out_dir = osp.join(work, f'out_{size}_{len(extra)}')
                peak, _ = peak_rss_of([
                    sys.executable, '-m',
                    'csn_plugin.tools.extract_features', args.config,
                    args.checkpoint, '--video-list', list_file,
                    '--video-root', work, '--out-dir', out_dir,
                    '--stride', str(args.stride), '--device', 'cpu',
                    '--no-progress', '--max-memory', args.max_memory, *extra
                ], env)
                with open(osp.join(out_dir, 'summary.json')) as f:
                    summary = json.load(f)
                (record, ) = summary['videos']
                features[route] = np.load(osp.join(out_dir, 'v' + size +
                                                   '.npy'))
                diff = '-'
                if route == 'defaults':
                    before = features[ROUTES[1][0]]
                    abs_diff = float(np.abs(features[route] - before).max())
                    diff = (f'{abs_diff:.2e} '
                            f'({abs_diff / np.abs(before).max():.1e})')
                load = '/'.join(f'{v:.1f}' for v in os.getloadavg())
                height, width = record['frame_shape']
                print(f'| {size}, {args.seconds} s | {route} | '
                      f'{record["clips"]} | {record["batch_size"]} | '
                      f'{width}x{height} | '
                      f'{record["clips"] / summary["seconds"]:.2f} '
                      f'({summary["seconds"]:.1f}) | {peak:.0f} | {load} | '
                      f'{diff} |', flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--clip-len', type=int, default=32)
    parser.add_argument('--frame-interval', type=int, default=2)
    parser.add_argument(
        '--frames', type=int, nargs='+', default=[600, 2400],
        help='lengths of the generated videos, one run each')
    parser.add_argument('--threads', type=int, default=2,
                        help='OMP_NUM_THREADS of both tools')
    parser.add_argument(
        '--workers', type=int, default=1,
        help="data-loader workers of MMAction2's tool (default 1)")
    parser.add_argument('--shared-data', default=SHARED)
    parser.add_argument(
        '--resolutions', nargs='+', metavar='WxH',
        help="measure the plugin's extractor alone on videos of these sizes "
        '(see above) instead of comparing it with MMAction2')
    parser.add_argument('--seconds', type=int, default=120,
                        help='length of the --resolutions videos')
    parser.add_argument('--stride', type=int, default=256,
                        help='clip stride of the --resolutions runs')
    parser.add_argument('--max-memory', default='1G',
                        help="the extractor's --max-memory in the "
                        '--resolutions runs')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.clip_len % 2:
        raise SystemExit('--clip-len must be even for the two tools to take '
                         'the same clips')
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    if args.resolutions:
        print(f'CPU: {cpu_summary()}, {os.cpu_count()} cores; '
              f'torch {torch.__version__}, {args.threads} threads; config: '
              f'{osp.relpath(args.config, REPO)} (random weights), clips of '
              f'32x2 frames every {args.stride}, --max-memory '
              f'{args.max_memory}\n')
        run_resolutions(args, env)
        return
    print(f'CPU: {cpu_summary()}, {os.cpu_count()} cores; '
          f'torch {torch.__version__}, {args.threads} threads a tool; '
          f'load average at start '
          f'{"/".join(f"{v:.1f}" for v in os.getloadavg())}')
    print(f'config: {osp.relpath(args.config, REPO)} (random weights), '
          f'clips of {args.clip_len}x{args.frame_interval} frames every '
          f'{args.clip_len * args.frame_interval}\n')
    print('| videos | clips ours / MMAction2 | csn_plugin clips/s (wall) | '
          'MMAction2 clips/s (wall) | speed-up | peak RSS MiB, csn_plugin '
          '| peak RSS MiB, MMAction2 | max abs diff (rel.) |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    with tempfile.TemporaryDirectory() as work:
        args.checkpoint = osp.join(work, 'random.pth')
        cfg = save_random_checkpoint(args.config, args.checkpoint)
        # Linked under distinct stems: test.mp4 and test.avi would both
        # write test.npy.
        shared = []
        for path in sorted(glob.glob(osp.join(args.shared_data, 'test.*'))):
            if path.endswith(('.mp4', '.avi')):
                name = osp.basename(path).replace('.', '_') + \
                    osp.splitext(path)[1]
                os.symlink(osp.abspath(path), osp.join(work, name))
                shared.append(name)
        if shared:
            run_case('tests/data test.mp4 + test.avi', 'shared', shared,
                     work, cfg, args, work, env)
        for frames in args.frames:
            name = f'long_{frames}.mp4'
            write_long_video(osp.join(work, name), frames)
            run_case(f'{frames} frames, 320x240', f'long_{frames}', [name],
                     work, cfg, args, work, env)
    print(f'\nload average at end '
          f'{"/".join(f"{v:.1f}" for v in os.getloadavg())}. Wall: the '
          'whole command (start-up and model loading included). Peak RSS: '
          'the process and its children (MMAction2: its data-loader '
          'worker). Diff: max |ours - MMAction2| over the clips both have, '
          'relative to max |MMAction2|.')


if __name__ == '__main__':
    main()
