from .autocast_dtype_hook import AutocastDtypeHook
from .clip_visualization_hook import ClipVisualizationHook
from .exact_resume_hook import ExactResumeHook
from .skipped_videos_hook import SkippedVideosHook
from .switch_to_deploy_hook import SwitchToDeployHook

__all__ = [
    'AutocastDtypeHook', 'ClipVisualizationHook', 'ExactResumeHook',
    'SkippedVideosHook', 'SwitchToDeployHook'
]
