from .clip_visualization_hook import ClipVisualizationHook
from .skipped_videos_hook import SkippedVideosHook

__all__ = ['ClipVisualizationHook', 'SkippedVideosHook']
