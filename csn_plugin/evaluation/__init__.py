from .score_dump import ClassScoreDump

__all__ = ['ClassScoreDump']
