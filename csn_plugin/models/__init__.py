from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .heads import FixedPoolI3DHead

__all__ = [*_backbones, 'FixedPoolI3DHead']
