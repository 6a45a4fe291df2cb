"""Odd and damaged videos made without ffmpeg: OpenCV writes them, then
their bytes are edited. MP4 metadata that OpenCV cannot write (a rotation,
variable frame durations) is written into the container's boxes by hand;
OpenCV's muxer puts ``moov`` after ``mdat``, so boxes inside ``moov`` may
grow without moving any sample data."""
import struct
from typing import List, Tuple

import cv2
import numpy as np

from csn_plugin.datasets.synthetic_motion import write_video

# Boxes that hold other boxes, on the way to tkhd and stts.
_CONTAINERS = {b'moov', b'trak', b'mdia', b'minf', b'stbl', b'edts'}


def random_frames(rng: np.random.Generator, frames: int, height: int,
                  width: int) -> np.ndarray:
    """Smooth random RGB frames (noise compresses badly at tiny sizes)."""
    base = rng.integers(0, 256, (frames, 1, 1, 3))
    ramp = np.linspace(0, 60, width)[None, None, :, None]
    return np.clip(base + ramp + rng.normal(0, 8, (frames, height, width, 3)),
                   0, 255).astype(np.uint8)


def write_mjpg_avi(path: str, frames: np.ndarray, fps: int = 10) -> None:
    """Motion-JPEG in AVI: OpenCV writes it at any size, 1x1 included."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), fps,
                             (width, height))
    assert writer.isOpened(), path
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()


def write_mp4(path: str, frames: np.ndarray, fps: int = 10) -> None:
    """``mp4v`` in MP4, as the project's dataset generator writes it."""
    write_video(path, frames, fps)


def _box_path(data: bytes, path: List[bytes]) -> List[Tuple[int, int]]:
    """``(start, size)`` of each box along ``path`` (the first match at
    each level), outermost first."""
    found, start, end = [], 0, len(data)
    for name in path:
        while start < end:
            size, kind = struct.unpack_from('>I4s', data, start)
            if kind == name:
                found.append((start, size))
                break
            start += size
        else:
            raise ValueError(f'no {name} box in {path}')
        start, end = start + 8, start + size
    return found


def set_rotation(data: bytes, degrees: int) -> bytes:
    """Set the first track's display matrix (``tkhd``) to a rotation."""
    start, _ = _box_path(data, [b'moov', b'trak', b'tkhd'])[-1]
    version = data[start + 8]
    matrix = start + (60 if version == 1 else 48)
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]

    def fixed(value):  # signed 16.16 fixed point
        return (value << 16) & 0xFFFFFFFF

    values = (fixed(cos), fixed(sin), 0, fixed(-sin), fixed(cos), 0, 0, 0,
              1 << 30)
    return (data[:matrix] + struct.pack('>9I', *values) +
            data[matrix + 36:])


def set_frame_durations(data: bytes, durations: List[int]) -> bytes:
    """Give the first track's samples these durations (``stts`` entries,
    in its time scale): a variable frame rate."""
    boxes = _box_path(data, [b'moov', b'trak', b'mdia', b'minf', b'stbl',
                             b'stts'])
    start, size = boxes[-1]
    payload = struct.pack('>II', 0, len(durations)) + b''.join(
        struct.pack('>II', 1, d) for d in durations)
    new_box = struct.pack('>I4s', 8 + len(payload), b'stts') + payload
    grow = len(new_box) - size
    out = bytearray(data[:start] + new_box + data[start + size:])
    for parent, parent_size in boxes[:-1]:  # the boxes around stts grow
        struct.pack_into('>I', out, parent, parent_size + grow)
    return bytes(out)


def flip_bytes(data: bytes, rng: np.random.Generator, start: int, end: int,
               count: int) -> bytes:
    """``count`` random bytes in ``[start, end)`` xor-ed with random
    non-zero values."""
    out = bytearray(data)
    for pos in rng.integers(start, max(end, start + 1), count):
        out[min(pos, len(out) - 1)] ^= int(rng.integers(1, 256))
    return bytes(out)


def mp4_regions(data: bytes) -> dict:
    """``(start, end)`` of the header (``ftyp`` ... before ``mdat``), the
    payload (``mdat``'s samples) and the ``moov`` metadata."""
    mdat, mdat_size = _box_path(data, [b'mdat'])[0]
    moov, moov_size = _box_path(data, [b'moov'])[0]
    return dict(header=(0, mdat + 8), payload=(mdat + 8, mdat + mdat_size),
                moov=(moov, moov + moov_size))
