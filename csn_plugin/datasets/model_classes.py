"""Tell the datasets a Runner builds how many classes its model has.

An MMAction2 config gives the class count once, as
``model.cls_head.num_classes``; the dataset of a single-label list is not
told it, so a label past the head's last class goes unnoticed: in testing it
is scored (as a miss), in training it fails deep inside the loss with
``IndexError: Target 7 is out of bounds``, naming no file or line.

:func:`install_model_classes` wraps the mmengine ``Runner`` methods that
build the train, val and test loops, and with them the dataloaders and
datasets. While one of them runs, :func:`model_num_classes` returns the
class count of the runner's model (``model.cls_head.num_classes``, looked
up through a DDP wrapper), and :class:`~csn_plugin.datasets.
CheckedVideoDataset` checks each label against it. Every tool that trains or
tests with mmengine's Runner (``mim train mmaction``, ``mim test
mmaction``, the plugin's tools) builds its datasets there.
"""
import contextlib
import contextvars
import functools
from typing import Iterator, Optional

from mmengine.runner import Runner

__all__ = ['install_model_classes', 'model_num_classes', 'model_classes']

_LOOP_BUILDERS = ('build_train_loop', 'build_val_loop', 'build_test_loop')
_NUM_CLASSES: contextvars.ContextVar = contextvars.ContextVar(
    'csn_plugin_model_num_classes', default=None)


def model_num_classes() -> Optional[int]:
    """The class count of the model whose datasets are being built, or
    ``None`` outside a Runner's loop building (or for a model without
    ``cls_head.num_classes``)."""
    return _NUM_CLASSES.get()


@contextlib.contextmanager
def model_classes(num_classes: Optional[int]) -> Iterator[None]:
    """Let :func:`model_num_classes` return ``num_classes`` inside the
    block.

    Args:
        num_classes (int, optional): The model's class count.
    """
    token = _NUM_CLASSES.set(num_classes)
    try:
        yield
    finally:
        _NUM_CLASSES.reset(token)


def _head_num_classes(model) -> Optional[int]:
    model = getattr(model, 'module', model)  # DDP and other wrappers
    num_classes = getattr(getattr(model, 'cls_head', None), 'num_classes',
                          None)
    if isinstance(num_classes, int) and num_classes > 0:
        return num_classes
    return None


def _with_model_classes(build_loop):

    @functools.wraps(build_loop)
    def build(self, loop):
        with model_classes(_head_num_classes(getattr(self, 'model', None))):
            return build_loop(self, loop)

    build.__csn_patched__ = True
    return build


def install_model_classes() -> None:
    """Wrap ``Runner.build_{train,val,test}_loop``; safe to call more than
    once."""
    for name in _LOOP_BUILDERS:
        build_loop = getattr(Runner, name)
        if not getattr(build_loop, '__csn_patched__', False):
            setattr(Runner, name, _with_model_classes(build_loop))
