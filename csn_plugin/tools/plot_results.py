"""One picture of a training run and its test: training loss and validation
accuracy per epoch, and the test confusion matrix.

    python -m csn_plugin.tools.plot_results TRAIN_WORK_DIR \\
        --scores test/scores.json --ann-file data/test_list_videos.txt \\
        [--label-map data/label_map.txt] --out test/results.png

``TRAIN_WORK_DIR`` is the ``--work-dir`` of ``mim train``: the newest
``<timestamp>/vis_data/scalars.json`` in it (mmengine's ``LocalVisBackend``)
gives the loss of every logged iteration, averaged here per epoch, and the
``acc/top1`` of every validation. ``--scores`` is the class-score file of
``mim test csn_plugin ... --out`` (one list of scores a video, in the order
of ``--ann-file``, whose lines end with the true label).
"""
import argparse
import glob
import json
import os.path as osp
from collections import defaultdict

import numpy as np

__all__ = [
    'read_training_log', 'read_labels', 'confusion_matrix', 'plot_results',
    'main'
]


def read_training_log(work_dir):
    """Per-epoch mean training loss and validation top-1 of a run.

    Returns:
        tuple[dict, dict, str]: ``{epoch: mean loss}``,
        ``{epoch: top-1 accuracy}`` and the ``scalars.json`` read.
    """
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')), key=osp.getmtime)
    if not logs:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json in {work_dir}: give the work dir '
            'of an mmengine training run')
    losses, val_acc = defaultdict(list), {}
    with open(logs[-1]) as f:
        for lineno, line in enumerate(f, 1):
            record = json.loads(line)
            if 'loss' in record:
                if 'epoch' not in record:
                    raise ValueError(
                        f'{logs[-1]}:{lineno}: a training record without '
                        "'epoch'; per-epoch plots need an EpochBasedTrainLoop")
                losses[record['epoch']].append(record['loss'])
            elif 'acc/top1' in record:
                # Validation records: `step` is the epoch.
                val_acc[record['step']] = record['acc/top1']
    if not losses:
        raise ValueError(f'{logs[-1]} holds no training loss')
    return ({e: float(np.mean(v)) for e, v in sorted(losses.items())},
            val_acc, logs[-1])


def read_labels(ann_file):
    """The last field of every non-blank line of a video list."""
    with open(ann_file) as f:
        lines = [line.split() for line in f if line.strip()]
    try:
        return [int(fields[-1]) for fields in lines]
    except ValueError:
        raise ValueError(f'{ann_file}: every line must end with an integer '
                         'label') from None


def confusion_matrix(scores, labels, num_classes):
    """``(num_classes, num_classes)`` counts: row true class, column
    predicted class (the highest score)."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f'{len(labels)} labels but scores of shape '
                         f'{scores.shape}; expected one row of class scores '
                         'a video (mim test --average-clips prob/score)')
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    for label, pred in zip(labels, scores.argmax(axis=1)):
        matrix[label, pred] += 1
    return matrix


def plot_results(losses, val_acc, matrix, class_names, out):
    """Write the three panels to ``out`` (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc, ax_cm) = plt.subplots(
        1, 3, figsize=(15, 4.5), gridspec_kw=dict(width_ratios=[1, 1, 1.1]))
    ax_loss.plot(list(losses), list(losses.values()), marker='o')
    ax_loss.set(title='training loss (mean per epoch)', xlabel='epoch',
                ylabel='loss')
    if val_acc:
        ax_acc.plot(list(val_acc), [100 * a for a in val_acc.values()],
                    marker='o', color='tab:green')
    ax_acc.set(title='validation top-1 accuracy', xlabel='epoch',
               ylabel='%', ylim=(0, 100))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    accuracy = 100 * np.trace(matrix) / max(matrix.sum(), 1)
    ax_cm.imshow(matrix, cmap='Blues')
    ticks = range(len(class_names))
    ax_cm.set(title=f'test confusion matrix ({matrix.sum()} videos, top-1 '
              f'{accuracy:.1f} %)', xlabel='predicted', ylabel='true',
              xticks=ticks, yticks=ticks)
    ax_cm.set_xticklabels(class_names, rotation=45, ha='right')
    ax_cm.set_yticklabels(class_names)
    for (i, j), count in np.ndenumerate(matrix):
        ax_cm.text(j, i, str(count), ha='center', va='center',
                   color='white' if count > matrix.max() / 2 else 'black')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot training loss and validation accuracy per epoch '
        'and the test confusion matrix into one PNG.')
    parser.add_argument('work_dir', help='work dir of the training run')
    parser.add_argument('--scores', required=True,
                        help='class scores of mim test csn_plugin --out')
    parser.add_argument('--ann-file', required=True,
                        help='the test video list, in the order of --scores')
    parser.add_argument('--label-map', help='class names, one a line')
    parser.add_argument('--out', required=True, help='output .png')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        losses, val_acc, _ = read_training_log(args.work_dir)
        with open(args.scores) as f:
            scores = json.load(f)
        labels = read_labels(args.ann_file)
        num_classes = len(scores[0]) if scores else 0
        if args.label_map:
            with open(args.label_map) as f:
                names = [line.strip() for line in f if line.strip()]
        else:
            names = [str(i) for i in range(num_classes)]
        if len(names) != num_classes:
            raise ValueError(f'{args.label_map} has {len(names)} names for '
                             f'{num_classes} classes')
        matrix = confusion_matrix(scores, labels, num_classes)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'error: {err}')
    plot_results(losses, val_acc, matrix, names, args.out)
    print(f'plot of training loss, validation accuracy and the test '
          f'confusion matrix: {osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
