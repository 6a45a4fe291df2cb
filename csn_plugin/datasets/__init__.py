from .checked_video_dataset import (CheckedVideoDataset,
                                    TooManyCorruptVideosError)
from .model_classes import install_model_classes
from .synthetic_motion import (generate_motion_dataset, motion_class_names,
                               render_motion_video)
from .transforms import (CheckedDecordDecode, CheckedDecordInit,
                         CorruptVideoError)

__all__ = [
    'CheckedVideoDataset', 'CheckedDecordInit', 'CheckedDecordDecode',
    'CorruptVideoError', 'TooManyCorruptVideosError',
    'generate_motion_dataset', 'install_model_classes', 'motion_class_names',
    'render_motion_video'
]
