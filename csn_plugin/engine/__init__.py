from .hooks import *  # noqa: F401,F403
from .optim_wrappers import *  # noqa: F401,F403
from .hooks import __all__ as _hooks
from .optim_wrappers import __all__ as _optim_wrappers

__all__ = _hooks + _optim_wrappers
