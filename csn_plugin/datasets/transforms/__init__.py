from .decord_loading import (CheckedDecordDecode, CheckedDecordInit,
                             CorruptVideoError)

__all__ = ['CorruptVideoError', 'CheckedDecordInit', 'CheckedDecordDecode']
