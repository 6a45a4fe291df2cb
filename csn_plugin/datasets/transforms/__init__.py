from .decord_loading import (CheckedDecordDecode, CheckedDecordInit,
                             CorruptVideoError, naming_corrupt_video)

__all__ = [
    'CorruptVideoError', 'naming_corrupt_video', 'CheckedDecordInit',
    'CheckedDecordDecode'
]
