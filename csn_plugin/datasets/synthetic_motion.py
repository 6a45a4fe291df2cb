"""A small synthetic action dataset whose classes differ only in motion.

Every video shows a random texture (smooth colour gradients with sharp-edged
blobs) sliding across the frame. The class is the direction of the slide;
the texture, its colours, the speed and the start position are drawn from the
same distribution for every class. The texture is periodic (it lives on a
torus) and each frame is a window onto it at a uniformly random offset, so a
single frame, or a set of frames without their order, carries no class
information: only a model that relates frames in time can tell the classes
apart. That makes the dataset a quick check that a video model really uses
its temporal dimension.

The videos are written as real MPEG-4 Part 2 (``mp4v``) ``.mp4`` files in
the layout of MMAction2's Kinetics video lists, so the usual
``VideoDataset``/``DecordInit`` pipelines read them unchanged::

    OUT_DIR/label_map.txt              class names, one per line, label order
    OUT_DIR/train_list_videos.txt      "<class>/<id>.mp4 <label>" per line,
    OUT_DIR/val_list_videos.txt        relative to the matching videos_* dir
    OUT_DIR/test_list_videos.txt
    OUT_DIR/videos_train/<class>/<id>.mp4
    OUT_DIR/videos_val/<class>/<id>.mp4
    OUT_DIR/videos_test/<class>/<id>.mp4
"""
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional

import cv2
import numpy as np
from tqdm import tqdm

__all__ = [
    'SPLITS', 'DEFAULT_VIDEOS_PER_CLASS', 'motion_class_names',
    'render_motion_video', 'write_video', 'generate_motion_dataset'
]

SPLITS = ('train', 'val', 'test')
DEFAULT_VIDEOS_PER_CLASS = dict(train=40, val=10, test=10)
MAX_CLASSES = 36  # directions 10 degrees apart at most; names stay unique

# Names for the directions on the compass rose; angles counter-clockwise
# from "content moves right", as on a map (90 = up).
_COMPASS_NAMES = {
    0: 'right', 45: 'up_right', 90: 'up', 135: 'up_left', 180: 'left',
    225: 'down_left', 270: 'down', 315: 'down_right'
}
# Speed of the texture in pixels per frame at 128 px, scaled with the size.
_SPEED_RANGE = (1.0, 3.0)


def _directions(num_classes: int) -> List[float]:
    if not 2 <= num_classes <= MAX_CLASSES:
        raise ValueError(f'num_classes must be in [2, {MAX_CLASSES}], '
                         f'got {num_classes}')
    return [360.0 * k / num_classes for k in range(num_classes)]


def motion_class_names(num_classes: int) -> List[str]:
    """Class names in label order: ``num_classes`` directions evenly spaced
    counter-clockwise from "right", e.g. for 4 classes ``move_right``,
    ``move_up``, ``move_left``, ``move_down``."""
    names = []
    for angle in _directions(num_classes):
        degrees = round(angle)
        if angle == degrees and degrees in _COMPASS_NAMES:
            names.append(f'move_{_COMPASS_NAMES[degrees]}')
        else:
            names.append(f'move_{degrees:03d}deg')
    return names


def _periodic_noise(rng: np.random.Generator, size: int,
                    sigma: float) -> np.ndarray:
    """Smooth noise on a ``size`` x ``size`` torus, scaled to [0, 1].

    White noise blurred by a Gaussian of std ``sigma`` pixels, applied in the
    Fourier domain so that the result wraps around seamlessly.
    """
    freqs = np.fft.fftfreq(size)
    radius2 = freqs[:, None]**2 + freqs[None, :]**2
    transfer = np.exp(-2 * (np.pi * sigma)**2 * radius2)
    white = rng.standard_normal((size, size))
    noise = np.fft.ifft2(np.fft.fft2(white) * transfer).real
    noise -= noise.min()
    return noise / noise.max()


def _random_texture(rng: np.random.Generator, size: int,
                    scale: float) -> np.ndarray:
    """A periodic RGB texture: a gradient between two random colours with
    sharp-edged blobs of a third colour (the edges make motion visible)."""
    colours = rng.uniform(0, 255, size=(3, 3))
    shade = _periodic_noise(rng, size, sigma=rng.uniform(3, 6) * scale)
    texture = (colours[0] * (1 - shade[..., None]) +
               colours[1] * shade[..., None])
    blobs = _periodic_noise(rng, size, sigma=rng.uniform(4, 8) * scale)
    texture[blobs > np.quantile(blobs, 0.75)] = colours[2]
    return texture.round().astype(np.uint8)


def render_motion_video(rng: np.random.Generator, direction: float,
                        num_frames: int, size: int) -> np.ndarray:
    """Render one video of a random texture moving in ``direction``.

    Args:
        rng (np.random.Generator): Source of every random choice (texture,
            colours, speed, start offset).
        direction (float): Direction of motion in degrees, counter-clockwise
            from "right" (90 = up).
        num_frames (int): Number of frames.
        size (int): Height and width of the frames in pixels.

    Returns:
        np.ndarray: ``(num_frames, size, size, 3)`` uint8 RGB frames.
    """
    scale = size / 128
    period = 2 * size
    texture = _random_texture(rng, period, scale)
    speed = rng.uniform(*_SPEED_RANGE) * scale
    angle = np.deg2rad(direction)
    # Image rows grow downwards, hence the minus on the vertical component.
    velocity = speed * np.array([-np.sin(angle), np.cos(angle)])  # (dy, dx)
    start = rng.uniform(0, period, size=2)
    # Two periods each way, so any window of the torus is a plain slice.
    tiled = np.tile(texture, (2, 2, 1))
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        # The window moves against the velocity, so the content moves with it.
        top, left = np.round(start - t * velocity).astype(int) % period
        frames[t] = tiled[top:top + size, left:left + size]
    return frames


def write_video(path: str, frames: np.ndarray, fps: int) -> None:
    """Encode RGB ``frames`` (T, H, W, 3) into an ``mp4v`` video at
    ``path``."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot open a mp4v video writer for '
                           f'{path}; is opencv-python built with FFmpeg?')
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))  # RGB -> BGR
    writer.release()


def _output_paths(out_dir: str) -> List[str]:
    return ([osp.join(out_dir, 'label_map.txt')] +
            [osp.join(out_dir, f'{split}_list_videos.txt')
             for split in SPLITS] +
            [osp.join(out_dir, f'videos_{split}') for split in SPLITS])


def generate_motion_dataset(out_dir: str,
                            num_classes: int = 4,
                            videos_per_class: Optional[Dict[str, int]] = None,
                            num_frames: int = 40,
                            size: int = 128,
                            fps: int = 25,
                            seed: int = 0,
                            overwrite: bool = False,
                            progress: bool = True) -> Dict[str, str]:
    """Write the synthetic motion dataset to ``out_dir``.

    The output is a function of the arguments only: every video draws from
    its own generator seeded with ``(seed, split, class, index)``.

    Args:
        out_dir (str): Output folder; created if missing.
        num_classes (int): Number of motion directions, 2 to 36.
            Defaults to 4.
        videos_per_class (dict, optional): Videos per class for each of
            ``'train'``, ``'val'`` and ``'test'``; missing splits take the
            defaults (40, 10, 10).
        num_frames (int): Frames per video. Defaults to 40.
        size (int): Frame height and width in pixels. Defaults to 128.
        fps (int): Frame rate stored in the files. Defaults to 25.
        seed (int): Random seed. Defaults to 0.
        overwrite (bool): Replace the dataset files already in ``out_dir``
            (only those this function writes). Defaults to False, which
            raises ``FileExistsError`` if any is there.
        progress (bool): Show a tqdm progress bar. Defaults to True.

    Returns:
        dict: ``{'label_map': path, 'train': list path, 'val': ...,
        'test': ...}``.
    """
    counts = dict(DEFAULT_VIDEOS_PER_CLASS, **(videos_per_class or {}))
    unknown = set(counts) - set(SPLITS)
    if unknown:
        raise ValueError(f'videos_per_class has unknown splits '
                         f'{sorted(unknown)}; expected {list(SPLITS)}')
    for name, value in [('num_frames', num_frames), ('size', size),
                        ('fps', fps)]:
        if value < 1:
            raise ValueError(f'{name} must be positive, got {value}')
    if size < 16:
        raise ValueError(f'size must be at least 16 pixels, got {size}')
    if any(n < 0 for n in counts.values()):
        raise ValueError(f'videos per class must be >= 0, got {counts}')
    names = motion_class_names(num_classes)
    directions = _directions(num_classes)

    existing = [p for p in _output_paths(out_dir) if osp.lexists(p)]
    if existing and not overwrite:
        raise FileExistsError(
            f'{out_dir} already holds a dataset ({existing[0]}); pass '
            f'overwrite=True (--overwrite) to replace it')
    for path in existing:
        if osp.isdir(path) and not osp.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    os.makedirs(out_dir, exist_ok=True)

    outputs = {'label_map': osp.join(out_dir, 'label_map.txt')}
    with open(outputs['label_map'], 'w') as f:
        f.writelines(f'{name}\n' for name in names)

    total = num_classes * sum(counts.values())
    with tqdm(total=total, desc='motion videos', unit='video',
              disable=not progress) as bar:
        for split_index, split in enumerate(SPLITS):
            lines = []
            for label, (name, direction) in enumerate(zip(names, directions)):
                class_dir = osp.join(out_dir, f'videos_{split}', name)
                os.makedirs(class_dir, exist_ok=True)
                for index in range(counts[split]):
                    rng = np.random.default_rng(
                        [seed, split_index, label, index])
                    frames = render_motion_video(rng, direction, num_frames,
                                                 size)
                    video_id = f'{split}_{label:02d}_{index:04d}'
                    write_video(
                        osp.join(class_dir, f'{video_id}.mp4'), frames, fps)
                    lines.append(f'{name}/{video_id}.mp4 {label}\n')
                    bar.update()
            outputs[split] = osp.join(out_dir, f'{split}_list_videos.txt')
            with open(outputs[split], 'w') as f:
                f.writelines(lines)
    return outputs
