"""Write the synthetic motion dataset (classes differ only in motion).

    python -m csn_plugin.tools.make_dataset data/motion
    python -m csn_plugin.tools.make_dataset data/motion --classes 8 --seed 1

See docs/dataset.md for the layout and the matching config.
"""
import argparse
import os.path as osp
import time

from csn_plugin.datasets.synthetic_motion import (DEFAULT_VIDEOS_PER_CLASS,
                                                  MAX_CLASSES, SPLITS,
                                                  generate_motion_dataset,
                                                  motion_class_names)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write a small synthetic video dataset whose classes '
        'differ only in the direction of motion, in the layout of '
        "MMAction2's Kinetics video lists.")
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument(
        '--classes', type=int, default=4,
        help=f'number of motion directions, 2 to {MAX_CLASSES} (default 4)')
    for split in SPLITS:
        parser.add_argument(
            f'--{split}-per-class', type=int,
            default=DEFAULT_VIDEOS_PER_CLASS[split],
            help=f'{split} videos per class '
            f'(default {DEFAULT_VIDEOS_PER_CLASS[split]})')
    parser.add_argument(
        '--frames', type=int, default=40,
        help='frames per video (default 40)')
    parser.add_argument(
        '--size', type=int, default=128,
        help='frame height and width in pixels (default 128)')
    parser.add_argument(
        '--fps', type=int, default=25, help='frame rate (default 25)')
    parser.add_argument(
        '--seed', type=int, default=0,
        help='random seed, >= 0; the output depends only on the arguments '
        '(default 0)')
    parser.add_argument(
        '--overwrite', action='store_true',
        help='replace a dataset already in OUT_DIR')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f'--seed must be >= 0, got {args.seed}')
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        outputs = generate_motion_dataset(
            args.out_dir,
            num_classes=args.classes,
            videos_per_class={
                split: getattr(args, f'{split}_per_class')
                for split in SPLITS
            },
            num_frames=args.frames,
            size=args.size,
            fps=args.fps,
            seed=args.seed,
            overwrite=args.overwrite,
            progress=not args.no_progress)
    except (ValueError, FileExistsError) as err:
        raise SystemExit(f'error: {err}')
    print(f'Wrote {args.classes} classes ('
          f'{", ".join(motion_class_names(args.classes))}) to '
          f'{args.out_dir} in {time.perf_counter() - start:.1f} s:')
    for key, path in outputs.items():
        line = f'  {path}'
        if key in SPLITS:
            videos = osp.join(args.out_dir, f'videos_{key}')
            line += f'  (videos under {videos})'
        print(line)


if __name__ == '__main__':
    main()
