from .skipped_videos_hook import SkippedVideosHook

__all__ = ['SkippedVideosHook']
