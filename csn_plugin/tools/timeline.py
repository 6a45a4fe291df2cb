"""The top classes of a video over time: class probabilities of sliding
clips, one view a clip, as a CSV table and a plot.

The clips stream through :class:`~csn_plugin.tools.sliding_clips.
SlidingClipRunner`, so an hour-long video takes the memory of one batch of
clips and keeps ``num_clips x num_classes`` scores.
"""
import csv
import os
import os.path as osp

import numpy as np

from csn_plugin.tools.sliding_clips import (SlidingClipRunner,
                                            pipeline_sampling)

__all__ = [
    'TIMELINE_FORMATS', 'Timeline', 'video_timeline', 'write_timeline'
]

#: What --timeline writes: a table or a plot.
TIMELINE_FORMATS = ('.csv', '.png', '.pdf', '.svg')


class Timeline:
    """Class probabilities of a video's sliding clips.

    Args:
        times (np.ndarray): ``(num_clips, 2)`` start and end of each clip,
            in seconds.
        scores (np.ndarray): ``(num_clips, num_classes)`` probabilities.
        labels (list[str]): Class names.
    """

    def __init__(self, times, scores, labels):
        if len(times) != len(scores) or scores.shape[1] != len(labels):
            raise ValueError(f'{len(times)} clip times, scores of shape '
                             f'{scores.shape} and {len(labels)} labels '
                             'do not match')
        self.times = times
        self.scores = scores
        self.labels = labels

    def top_classes(self, k):
        """The ``k`` classes of highest mean probability over the clips,
        best first."""
        mean = self.scores.mean(axis=0)
        return list(np.argsort(-mean, kind='stable')[:k])

    def write_csv(self, path, k):
        """One row a clip: ``clip``, ``start_s``, ``end_s``, its best class
        (``top_label``, ``top_score``) and the probabilities of the video's
        ``k`` top classes (a column each, named by the class)."""
        classes = self.top_classes(k)
        best = self.scores.argmax(axis=1)
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['clip', 'start_s', 'end_s', 'top_label',
                             'top_score'] + [self.labels[c] for c in classes])
            for i, ((start, end), row) in enumerate(zip(self.times,
                                                        self.scores)):
                writer.writerow(
                    [i, f'{start:.3f}', f'{end:.3f}', self.labels[best[i]],
                     f'{row[best[i]]:.4f}'] +
                    [f'{row[c]:.4f}' for c in classes])

    def plot(self, path, k, title=None):
        """The probabilities of the ``k`` top classes against time (a line
        a class), over a band coloured by each clip's best class."""
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        classes = self.top_classes(k)
        centres = self.times.mean(axis=1)
        fig, (lines, band) = plt.subplots(
            2, 1, sharex=True, figsize=(10, 4.5),
            gridspec_kw=dict(height_ratios=[5, 1]))
        colours = plt.get_cmap('tab10')
        marker = 'o' if len(centres) <= 100 else None
        for i, c in enumerate(classes):
            lines.plot(centres, self.scores[:, c], marker=marker,
                       markersize=3, color=colours(i % 10),
                       label=self.labels[c])
        lines.set_ylim(0, 1)
        lines.set_ylabel('probability')
        lines.legend(loc='upper right', fontsize='small')
        if title:
            lines.set_title(title)
        # The band: each clip's best class, a colour of the lines, grey for
        # a class outside the top k.
        best = self.scores.argmax(axis=1)
        index = {c: i for i, c in enumerate(classes)}
        rgb = np.array([colours(index[b] % 10)[:3] if b in index else
                        (0.8, 0.8, 0.8) for b in best])
        band.imshow(rgb[None], aspect='auto', interpolation='nearest',
                    extent=(self.times[0, 0], self.times[-1, 1], 0, 1))
        band.set_yticks([])
        band.set_ylabel('top-1', rotation=0, ha='right', va='center')
        band.set_xlabel('time (s)')
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def video_timeline(model, path, labels, stride=None, max_memory=1024**3,
                   progress=True):
    """The :class:`Timeline` of the video at ``path``: clips of the
    config's test ``SampleFrames`` length and interval, every ``stride``
    frames (default: side by side), decoded at the test pipeline's size.

    Raises:
        FileNotFoundError: No such file.
        CorruptVideoError: The video or one of its frames cannot be read.
    """
    clip_len, interval = pipeline_sampling(model.cfg)
    runner = SlidingClipRunner(model, clip_len, interval,
                               stride or clip_len * interval, max_memory)
    video, scores = runner.run_video(path, scores=True, progress=progress,
                                     desc='timeline')
    return Timeline(video.clip_times(), scores, labels)


def write_timeline(timeline, outputs, k, title=None):
    """Write ``timeline`` to each of ``outputs`` (:data:`TIMELINE_FORMATS`
    by extension)."""
    for out in outputs:
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        if out.lower().endswith('.csv'):
            timeline.write_csv(out, k)
        else:
            timeline.plot(out, k, title)
