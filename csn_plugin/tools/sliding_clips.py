"""Sliding clips of a whole video, streamed in memory bounded by settings:
what the feature extractor and the demo's timeline share.

A video is decoded at the size the config's test pipeline resizes it to
(decord scales while decoding, so full-size frames never pile up), a batch
of clips at a time, by frame index; the batch size comes from a memory
budget that covers the decoded frames, the network's input and its
activations.
"""
import re

import decord
import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from tqdm import tqdm

from csn_plugin.datasets.transforms import naming_corrupt_video
from csn_plugin.tools.video_inference import (frame_transforms, open_video,
                                              read_frames, decoded_steps)

__all__ = [
    'clip_starts', 'clip_chunks', 'parse_memory', 'decode_size',
    'pipeline_sampling',
    'SlidingClipVideo', 'SlidingClipRunner', 'DECODE_MODES'
]

#: ``'pipeline'``: decode at the size of the test pipeline's first
#: ``Resize`` when that is smaller than the video; ``'full'``: decode at the
#: video's size and let the pipeline resize (MMAction2's route).
DECODE_MODES = ('pipeline', 'full')
#: Copies of a clip's decoded frames alive at once: the decoded batch and
#: the pipeline's resize output (the clips are views into the batch).
FRAME_COPIES = 2
#: Copies of a clip's network input: the cropped uint8 clip stacked by
#: FormatShape, its float32 version and the normalized one.
INPUT_COPIES = 3
#: Activations alive at once, in units of the largest one: a block's input
#: (its shortcut), its output and the intermediate being computed. The
#: probe's figure is checked against measured peaks in
#: docs/feature_extraction.md.
ACTIVATION_FACTOR = 3


def clip_starts(total_frames, clip_len, frame_interval, stride):
    """First frame of every sliding clip of a ``total_frames`` video."""
    span = (clip_len - 1) * frame_interval + 1
    return np.arange(0, max(total_frames - span, 0) + 1, stride)


def clip_chunks(total_frames, clip_len, frame_interval, stride, chunk,
                first=0):
    """Frame indices of the clips, ``chunk`` clips at a time, from clip
    ``first``.

    Yields:
        np.ndarray: ``(n, clip_len)`` indices, ``n <= chunk``; indices past
        the last frame (a video shorter than one clip) are the last frame.
    """
    starts = clip_starts(total_frames, clip_len, frame_interval, stride)
    offsets = np.arange(clip_len) * frame_interval
    for begin in range(first, len(starts), chunk):
        indices = starts[begin:begin + chunk, None] + offsets[None]
        yield np.minimum(indices, total_frames - 1)


def pipeline_sampling(cfg):
    """``clip_len`` and ``frame_interval`` of the config's test
    ``SampleFrames``.

    Raises:
        ValueError: The test pipeline has no ``SampleFrames``.
    """
    for step in cfg.test_dataloader.dataset.pipeline:
        if str(step['type']).split('.')[-1] == 'SampleFrames':
            return step['clip_len'], step.get('frame_interval', 1)
    raise ValueError('no SampleFrames in the test pipeline: give the clip '
                     'length and frame interval')


def parse_memory(text):
    """Bytes of a size such as ``'2G'``, ``'512M'``, ``'1.5GB'`` or
    ``'1000000'`` (binary units: 1K = 1024 bytes).

    Raises:
        ValueError: Not a positive size.
    """
    match = re.fullmatch(r'\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)i?B?\s*',
                         str(text), re.IGNORECASE)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f'not a memory size: {text!r}; expected e.g. 2G, '
                         '512M or a number of bytes')
    power = ' KMGT'.index(match.group(2).upper() or ' ')
    return int(float(match.group(1)) * 1024**power)


def decode_size(steps, width, height):
    """The ``(width, height)`` to decode a ``width x height`` video at, so
    that the test pipeline's first step after decoding, a ``Resize``, has
    nothing left to do; ``None`` to decode at full size (no such
    ``Resize``, a lazy one, or one that would not make the frames smaller).

    Args:
        steps (list[dict]): The test pipeline's steps after decoding.
        width (int): The video's width.
        height (int): The video's height.
    """
    if not steps or str(steps[0]['type']).split('.')[-1] != 'Resize' \
            or steps[0].get('lazy', False):
        return None
    from mmaction.registry import TRANSFORMS
    init_default_scope('mmaction')
    resize = TRANSFORMS.build(dict(steps[0]))
    # Without 'imgs' Resize only computes the shape it would give.
    new_h, new_w = resize(dict(img_shape=(height, width),
                               modality='RGB'))['img_shape']
    if new_w > width or new_h > height or (new_w, new_h) == (width, height):
        return None
    return int(new_w), int(new_h)


class SlidingClipVideo:
    """One video's sliding clips, decoded a batch of clips at a time.

    Args:
        path (str): The video file.
        clip_len (int): Frames a clip.
        frame_interval (int): Step between a clip's frames.
        stride (int): Step between the first frames of two clips.
        size (tuple[int, int] | None): ``(width, height)`` to decode at;
            ``None``: the video's own size.

    Raises:
        FileNotFoundError: No such file.
        CorruptVideoError: decord cannot open it, or it has no frames.
    """

    def __init__(self, path, clip_len, frame_interval, stride, size=None):
        self.path = path
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.stride = stride
        self.reader = open_video(path)
        if size is not None:
            with naming_corrupt_video(path):
                self.reader = decord.VideoReader(
                    path, num_threads=1, width=size[0], height=size[1])
        self.num_frames = len(self.reader)
        self.fps = float(self.reader.get_avg_fps())
        self.starts = clip_starts(self.num_frames, clip_len, frame_interval,
                                  stride)

    @property
    def num_clips(self):
        return len(self.starts)

    def clip_times(self):
        """``(num_clips, 2)`` start and end of each clip, in seconds."""
        span = (self.clip_len - 1) * self.frame_interval + 1
        fps = self.fps if self.fps > 0 else 1.0
        ends = np.minimum(self.starts + span, self.num_frames)
        return np.stack([self.starts / fps, ends / fps], axis=1)

    def batches(self, batch_size, first=0):
        """``(first clip, frames)`` of each batch of clips from clip
        ``first``: ``frames`` is a list of ``n * clip_len`` frames
        (``(H, W, 3)`` uint8 RGB), ``n <= batch_size`` clips in order.

        Raises:
            CorruptVideoError: A frame cannot be decoded.
        """
        clip = first
        for indices in clip_chunks(self.num_frames, self.clip_len,
                                   self.frame_interval, self.stride,
                                   batch_size, first):
            # Each frame decoded once, however many clips share it.
            unique, inverse = np.unique(indices, return_inverse=True)
            frames = read_frames(self.reader, unique, self.path)
            yield clip, [frames[i] for i in inverse.ravel()]
            clip += len(indices)


class SlidingClipRunner:
    """A recognizer on the sliding clips of videos, in bounded memory:
    backbone features or class scores of each clip.

    Args:
        model (nn.Module): A 3D recognizer from
            :func:`~csn_plugin.tools.video_inference.load_recognizer`.
        clip_len (int): Frames a clip.
        frame_interval (int): Step between a clip's frames.
        stride (int): Step between the first frames of two clips.
        max_memory (int): Bytes for a batch's decoded frames, network input
            and activations; the batch size follows from it. Defaults to
            1 GiB.
        batch_size (int | None): Clips a batch, instead of the one the
            budget gives. Defaults to None.
        decode (str): One of :data:`DECODE_MODES`. Defaults to
            ``'pipeline'``.
    """

    def __init__(self, model, clip_len, frame_interval, stride,
                 max_memory=1024**3, batch_size=None, decode='pipeline'):
        for name, value in (('clip_len', clip_len),
                            ('frame_interval', frame_interval),
                            ('stride', stride), ('max_memory', max_memory),
                            ('batch_size', batch_size or 1)):
            if value < 1:
                raise ValueError(f'{name} must be >= 1, got {value}')
        if decode not in DECODE_MODES:
            raise ValueError(f'decode must be one of {DECODE_MODES}, got '
                             f'{decode!r}')
        self.model = model
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.stride = stride
        self.max_memory = max_memory
        self.fixed_batch_size = batch_size
        self.decode = decode
        self.steps = decoded_steps(model.cfg)
        self.transforms = frame_transforms(model.cfg)
        self._activations = {}

    def open(self, path):
        """The :class:`SlidingClipVideo` of ``path``, decoded at the size
        :attr:`decode` asks for."""
        video = SlidingClipVideo(path, self.clip_len, self.frame_interval,
                                 self.stride)
        if self.decode == 'pipeline':
            height, width = read_frames(video.reader, [0], path).shape[1:3]
            size = decode_size(self.steps, width, height)
            if size is not None:
                video = SlidingClipVideo(path, self.clip_len,
                                         self.frame_interval, self.stride,
                                         size)
        return video

    def frame_shape(self, video):
        """``(H, W)`` of the decoded frames of ``video``."""
        return read_frames(video.reader, [0], video.path).shape[1:3]

    def activation_bytes(self, frame_shape):
        """Bytes of activations a clip needs: :data:`ACTIVATION_FACTOR`
        times the largest output of a module, measured once per input shape
        on one clip of zeros."""
        key = tuple(frame_shape)
        if key not in self._activations:
            largest = [0]

            def record(module, inputs, output):
                if isinstance(output, torch.Tensor):
                    largest[0] = max(largest[0],
                                     output.numel() * output.element_size())

            handles = [
                m.register_forward_hook(record) for m in self.model.modules()
                if m is not self.model
            ]
            try:
                frames = [np.zeros((*key, 3), np.uint8)] * self.clip_len
                self.features(frames, 1)
            finally:
                for handle in handles:
                    handle.remove()
            self._activations[key] = ACTIVATION_FACTOR * largest[0]
        return self._activations[key]

    def clip_bytes(self, frame_shape):
        """Estimated bytes a clip of ``frame_shape`` frames takes: its
        decoded frames, its network input and its activations."""
        height, width = frame_shape
        frames = FRAME_COPIES * self.clip_len * height * width * 3
        crop = self.transforms(self._sample(
            [np.zeros((height, width, 3), np.uint8)] * self.clip_len,
            1))['inputs']
        inputs = INPUT_COPIES * crop.numel() * 4
        return frames + inputs + self.activation_bytes(frame_shape)

    def batch_size(self, video):
        """Clips a batch for ``video``: the fixed batch size, or as many as
        ``max_memory`` holds (at least one)."""
        if self.fixed_batch_size:
            return self.fixed_batch_size
        per_clip = self.clip_bytes(self.frame_shape(video))
        return max(1, min(self.max_memory // per_clip, video.num_clips))

    def stream(self, video, batch_size, first=0, scores=False,
               progress=None):
        """Run the model on the clips of ``video`` from clip ``first``.

        Args:
            video (SlidingClipVideo): From :meth:`open`.
            batch_size (int): Clips a batch.
            first (int): The first clip. Defaults to 0.
            scores (bool): Class probabilities instead of features.
                Defaults to False.
            progress (tqdm | None): A bar to advance by the clips done.

        Yields:
            tuple[int, np.ndarray]: The first clip of a batch and its
            ``(n, C)`` float32 features (or ``(n, num_classes)`` scores).
        """
        run = self.scores if scores else self.features
        for clip, frames in video.batches(batch_size, first):
            num_clips = len(frames) // self.clip_len
            out = run(frames, num_clips)
            del frames
            if progress is not None:
                progress.update(num_clips)
            yield clip, out

    def _sample(self, frames, num_clips):
        shape = frames[0].shape[:2]
        return dict(
            imgs=frames,
            num_clips=num_clips,
            clip_len=self.clip_len,
            original_shape=shape,
            img_shape=shape,
            modality='RGB')

    def _backbone(self, frames, num_clips):
        packed = self.transforms(self._sample(frames, num_clips))
        data = self.model.data_preprocessor(pseudo_collate([packed]), False)
        feats, _ = self.model.extract_feat(data['inputs'], stage='neck')
        return feats

    @torch.no_grad()
    def features(self, frames, num_clips):
        """``(num_clips, C)`` features of clips given as one list of
        frames: the backbone's (and neck's) output averaged over time and
        space."""
        feats = self._backbone(frames, num_clips)
        return feats.mean(dim=(2, 3, 4)).float().cpu().numpy()

    @torch.no_grad()
    def scores(self, frames, num_clips):
        """``(num_clips, num_classes)`` class probabilities of clips, one
        view each."""
        feats = self._backbone(frames, num_clips)
        logits = self.model.cls_head(feats)
        return logits.float().softmax(dim=-1).cpu().numpy()

    def run_video(self, path, scores=False, progress=True, desc=None):
        """All the clips of the video at ``path``: ``(video, outputs)``.

        Raises:
            FileNotFoundError: No such file.
            CorruptVideoError: The video or one of its frames cannot be read.
        """
        video = self.open(path)
        batch_size = self.batch_size(video)
        outputs = []
        with tqdm(total=video.num_clips, unit='clip', desc=desc,
                  disable=not progress, leave=False) as bar:
            for _, out in self.stream(video, batch_size, scores=scores,
                                      progress=bar):
                outputs.append(out)
        return video, np.concatenate(outputs)
