"""Bad videos made from the real good ones in tests/data, a short real
video, and the mmaction scope."""
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from csn_plugin.datasets.synthetic_motion import write_video


@pytest.fixture(autouse=True, scope='session')
def _mmaction_scope():
    """Datasets build their pipelines in the default scope, which MMAction2
    configs set with ``default_scope = 'mmaction'``."""
    init_default_scope('mmaction')


@pytest.fixture(scope='session')
def bad_videos(test_data, tmp_path_factory):
    """Paths of unreadable videos, by kind:

    - ``random``: 5000 random bytes named .mp4;
    - ``empty``: an empty .mp4;
    - ``truncated_mp4``: the first half of test.mp4 (its index is at the end);
    - ``truncated_avi``: the first 5% of test.avi (decord crashes on it when
      given the bytes in memory, as DecordInit does);
    - ``damaged_mp4``: test.mp4 with a quarter of its bytes zeroed in the
      middle: it opens with 300 frames, but frames ~75-150 fail to decode.
    """
    root = tmp_path_factory.mktemp('bad_videos')
    with open(osp.join(test_data, 'test.mp4'), 'rb') as f:
        mp4 = f.read()
    with open(osp.join(test_data, 'test.avi'), 'rb') as f:
        avi = f.read()
    size = len(mp4)
    contents = {
        'random.mp4':
        np.random.default_rng(0).integers(0, 256, 5000,
                                          dtype=np.uint8).tobytes(),
        'empty.mp4': b'',
        'truncated_mp4.mp4': mp4[:size // 2],
        'truncated_avi.avi': avi[:len(avi) // 20],
        'damaged_mp4.mp4': (mp4[:size // 4] + bytes(size // 2 - size // 4) +
                            mp4[size // 2:]),
    }
    paths = {}
    for name, data in contents.items():
        path = root / name
        path.write_bytes(data)
        paths[osp.splitext(name)[0]] = str(path)
    return paths


@pytest.fixture(scope='session')
def short_video(tmp_path_factory):
    """A real 5-frame .mp4 whose frame i is a flat grey of 40 * i + 30."""
    path = str(tmp_path_factory.mktemp('short') / 'five_frames.mp4')
    levels = 40 * np.arange(5) + 30
    frames = np.broadcast_to(levels[:, None, None, None],
                             (5, 32, 32, 3)).astype(np.uint8)
    write_video(path, frames, fps=5)
    return path
