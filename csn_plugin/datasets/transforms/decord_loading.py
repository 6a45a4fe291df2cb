"""Decord video loading that names the file when a video cannot be decoded.

MMAction2's ``DecordInit``/``DecordDecode`` let decord's own errors through:
``RuntimeError: Error reading 5000 bytes...`` or a ``DECORDError`` holding a
C++ check and no file name. Worse, ``DecordInit`` hands decord the file as an
in-memory ``BytesIO``, and decord 0.6.0 crashes the whole process with a
segmentation fault when it opens a truncated AVI that way (the same file
opened by path raises a ``DECORDError``, or decodes the frames that are
there). A crash in a DataLoader worker only says "killed by signal".

decord 0.6.0 also mislays the pixels of frames of some small widths (2, 4,
6, 8, 12, 16, 24, 48 and 72 pixels among the even widths up to 640): each
row of the frame it decodes is padded, and it reports the padding as extra
channels, so ``vr[i]`` of a 16-pixel-wide video has shape ``(H, 16, 6)`` and
``get_batch`` fails with ``DECORDArrayCopyFromTo: The size must exactly
match``.

The two transforms below are drop-in replacements that open local files by
path, cut the padding off such frames (which then equal OpenCV's decoding),
and turn decoding failures and frames that are not ``(H, W, 3)`` into
:class:`CorruptVideoError`, which names the file.
:class:`~csn_plugin.datasets.CheckedVideoDataset` catches that error to skip
corrupt videos when asked to.
"""
import contextlib
import os.path as osp
from typing import List

import decord
import numpy as np
from decord import DECORDError
from mmaction.datasets.transforms import DecordDecode, DecordInit
from mmaction.registry import TRANSFORMS

__all__ = [
    'CorruptVideoError', 'naming_corrupt_video', 'CheckedDecordInit',
    'CheckedDecordDecode'
]

# What decord raises on a bad file: DECORDError from its C++ checks, a plain
# RuntimeError ("Error reading <file>...") when FFmpeg cannot open it.
_DECORD_ERRORS = (DECORDError, RuntimeError)


class CorruptVideoError(RuntimeError):
    """A video file that exists but cannot be decoded.

    Args:
        filename (str): The video file.
        reason (str): What went wrong.
    """

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        self.reason = reason
        super().__init__(f'corrupt or unreadable video {filename}: {reason}')

    def __reduce__(self):
        # Picklable, e.g. to come back from a worker process.
        return type(self), (self.filename, self.reason)


def _decord_reason(err: Exception) -> str:
    # decord's messages may hold a C++ stack trace after the first line.
    lines = str(err).strip().splitlines() or ['']
    return f'decord raised {type(err).__name__}: {lines[0]}'


@contextlib.contextmanager
def naming_corrupt_video(filename: str):
    """Turn decord's errors inside the ``with`` block into a
    :class:`CorruptVideoError` naming ``filename``."""
    try:
        yield
    except _DECORD_ERRORS as err:
        raise CorruptVideoError(filename, _decord_reason(err)) from err


@TRANSFORMS.register_module()
class CheckedDecordInit(DecordInit):
    """``DecordInit`` that opens local videos by path and names the file
    when it cannot open it.

    Required Keys: ``filename``. Added Keys: ``video_reader``,
    ``total_frames``, ``avg_fps``.

    Args:
        io_backend (str): Where the videos are, as in ``DecordInit``. With
            ``'disk'`` (the default) decord opens the file by path; other
            backends fetch the bytes first, as ``DecordInit`` does.
        num_threads (int): Decoding threads. Defaults to 1.
        **kwargs: Arguments of the file client for other backends.

    Raises:
        FileNotFoundError: The (local) video does not exist.
        CorruptVideoError: decord cannot open the video, or it has no frames.
    """

    def _get_video_reader(self, filename: str) -> decord.VideoReader:
        if self.io_backend != 'disk':
            return super()._get_video_reader(filename)
        # As DecordInit: a name without extension means an .mp4 file.
        if osp.splitext(filename)[0] == filename:
            filename = filename + '.mp4'
        if not osp.isfile(filename):
            raise FileNotFoundError(f'video not found: {filename}')
        return decord.VideoReader(filename, num_threads=self.num_threads)

    def transform(self, results: dict) -> dict:
        filename = results['filename']
        with naming_corrupt_video(filename):
            results = super().transform(results)
        if results['total_frames'] < 1:
            raise CorruptVideoError(filename, 'it has no frames')
        return results


def _unpad_rows(frame: np.ndarray) -> np.ndarray:
    """An RGB frame from decord with its row padding cut off: ``(H, W, C)``
    with ``C > 3`` holds rows of ``W * C`` bytes, of which the first
    ``3 * W`` are the pixels."""
    if frame.ndim != 3 or frame.shape[2] <= 3:
        return frame
    height, width, channels = frame.shape
    return np.ascontiguousarray(
        frame.reshape(height, width * channels)[:, :3 * width].reshape(
            height, width, 3))


@TRANSFORMS.register_module()
class CheckedDecordDecode(DecordDecode):
    """``DecordDecode`` that names the file when decoding a frame fails
    (for example a video whose packets are damaged after the header), and
    reads the narrow frames decord 0.6.0 mislays (see the module's notes).

    Required Keys: ``video_reader``, ``frame_inds``, ``filename``. Added
    Keys: ``imgs``, ``original_shape``, ``img_shape``.

    Args:
        mode (str): ``'accurate'`` or ``'efficient'``, as in
            ``DecordDecode``. Defaults to ``'accurate'``.

    Raises:
        CorruptVideoError: decord fails to decode the sampled frames, or
            decodes them into arrays that are not ``(H, W, 3)`` frames of one
            size.
    """

    def _decord_load_frames(self, container: decord.VideoReader,
                            frame_inds: np.ndarray) -> List[np.ndarray]:
        try:
            frames = super()._decord_load_frames(container, frame_inds)
        except DECORDError as err:
            if 'DECORDArrayCopyFromTo' not in str(err):
                raise
            # get_batch cannot copy padded frames; one by one they come.
            container.seek(0)
            frames = [container[int(i)].asnumpy() for i in frame_inds]
        return [_unpad_rows(frame) for frame in frames]

    def transform(self, results: dict) -> dict:
        filename = results['filename']
        with naming_corrupt_video(filename):
            results = super().transform(results)
        shapes = sorted({frame.shape for frame in results['imgs']})
        if len(shapes) != 1 or len(shapes[0]) != 3 or shapes[0][2] != 3:
            raise CorruptVideoError(
                filename, f'decord decoded frames of shape(s) {shapes}, not '
                '(height, width, 3) frames of one size')
        return results
