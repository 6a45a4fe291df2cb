from .checked_video_dataset import CheckedVideoDataset
from .synthetic_motion import (generate_motion_dataset, motion_class_names,
                               render_motion_video)
from .transforms import (CheckedDecordDecode, CheckedDecordInit,
                         CorruptVideoError)

__all__ = [
    'CheckedVideoDataset', 'CheckedDecordInit', 'CheckedDecordDecode',
    'CorruptVideoError', 'generate_motion_dataset', 'motion_class_names',
    'render_motion_video'
]
