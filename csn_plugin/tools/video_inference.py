"""What the demo and the feature extractor share: finding videos, loading a
recognizer, reading frames by index in bounded chunks, and the config's
per-frame test transforms.
"""
import os
import os.path as osp

import decord
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import csn_plugin  # noqa: F401  (registers the plugin's models)
from csn_plugin.datasets.transforms import (CorruptVideoError,
                                            naming_corrupt_video)

__all__ = [
    'VIDEO_EXTENSIONS', 'find_videos', 'default_device', 'load_recognizer',
    'open_video', 'read_frames', 'decoded_steps', 'frame_transforms'
]

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.webm', '.mov')
#: Multi-view crops of a test pipeline and the single crop that replaces
#: them when one view a clip is wanted.
MULTI_CROPS = ('ThreeCrop', 'TenCrop')


def find_videos(path):
    """The videos to process.

    Args:
        path (str): A video file or a folder, searched recursively.

    Returns:
        tuple[list[str], list[str]]: The videos (sorted) and, for a folder,
        the files left out because their extension is not one of
        :data:`VIDEO_EXTENSIONS`.
    """
    if osp.isfile(path):
        if not path.lower().endswith(VIDEO_EXTENSIONS):
            raise ValueError(f'{path}: not a video file name; expected one '
                             f'of {", ".join(VIDEO_EXTENSIONS)}')
        return [path], []
    if not osp.isdir(path):
        raise FileNotFoundError(f'no such file or folder: {path}')
    videos, others = [], []
    for folder, _, files in os.walk(path):
        for name in files:
            file = osp.join(folder, name)
            (videos if name.lower().endswith(VIDEO_EXTENSIONS) else
             others).append(file)
    if not videos:
        raise FileNotFoundError(
            f'no video ({", ".join(VIDEO_EXTENSIONS)}) in {path}')
    return sorted(videos), sorted(others)


def default_device():
    """The first GPU if there is one, else the CPU."""
    return 'cuda:0' if torch.cuda.is_available() else 'cpu'


def load_recognizer(config, checkpoint, device='cpu', cfg_options=None):
    """MMAction2's ``init_recognizer`` on a config file with
    ``cfg_options`` merged, the backbone switched to its deploy form (BN
    folded into the convs) where it has one.

    Returns:
        nn.Module: The recognizer in eval mode; ``model.cfg`` is its config.
    """
    # Imported here, after csn_plugin: mmaction.apis imports mmaction.models,
    # which needs the plugin's fixes first.
    from mmaction.apis import init_recognizer
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = init_recognizer(cfg, checkpoint, device=device)
    if hasattr(model.backbone, 'switch_to_deploy'):
        model.backbone.switch_to_deploy()
    return model


def open_video(path):
    """A decord reader of a local video, opened by path.

    Raises:
        FileNotFoundError: There is no such file.
        CorruptVideoError: decord cannot open it, or it has no frames.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'video not found: {path}')
    with naming_corrupt_video(path):
        reader = decord.VideoReader(path, num_threads=1)
    if len(reader) < 1:
        raise CorruptVideoError(path, 'it has no frames')
    return reader


def read_frames(reader, indices, path):
    """Decode the frames at ``indices`` (any order, repeats allowed) as one
    ``(N, H, W, 3)`` uint8 RGB array, as ``DecordDecode`` does.

    Raises:
        CorruptVideoError: A frame cannot be decoded.
    """
    with naming_corrupt_video(path):
        return reader.get_batch(np.asarray(indices)).asnumpy()


def decoded_steps(cfg):
    """The test pipeline's steps after decoding (resize, crop, format,
    pack), one view a clip: ``ThreeCrop``/``TenCrop`` become a
    ``CenterCrop`` of the same size.

    Args:
        cfg (Config): A recognizer config with ``test_dataloader``.

    Returns:
        list[dict]: The steps' configs.
    """
    pipeline = [dict(t) for t in cfg.test_dataloader.dataset.pipeline]
    types = [str(t['type']) for t in pipeline]
    decodes = [i for i, t in enumerate(types) if t.endswith('Decode')]
    if not decodes:
        raise ValueError(f'the test pipeline has no *Decode step: {types}')
    steps = pipeline[decodes[-1] + 1:]
    for i, step in enumerate(steps):
        if step['type'] in MULTI_CROPS:
            steps[i] = dict(type='CenterCrop', crop_size=step['crop_size'])
    with_format = [s for s in steps if s['type'] == 'FormatShape']
    if not with_format or with_format[0].get('input_format') != 'NCTHW':
        raise ValueError('the test pipeline must end with FormatShape('
                         "input_format='NCTHW'): a 3D recognizer's clips")
    return steps


def frame_transforms(cfg):
    """:func:`decoded_steps` as one transform.

    Args:
        cfg (Config): A recognizer config with ``test_dataloader``.

    Returns:
        Compose: Takes ``imgs`` (a list of frames, ``num_clips`` clips of
        ``clip_len`` frames), ``num_clips``, ``clip_len``,
        ``original_shape`` and ``img_shape``, gives ``inputs`` and
        ``data_samples``.
    """
    steps = decoded_steps(cfg)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return Compose(steps)
