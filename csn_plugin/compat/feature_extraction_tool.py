"""``--video-root`` of MMAction2's ``clip_feature_extraction`` tool for the
plugin's datasets.

``tools/misc/clip_feature_extraction.py`` (mmaction2 1.2.0, what
``mim run mmaction clip_feature_extraction`` runs) applies ``--video-root``
in its ``merge_args`` only when the test dataset's ``type`` is the string
``'VideoDataset'`` (or ``'RawframeDataset'``). For any other dataset class,
:class:`~csn_plugin.datasets.CheckedVideoDataset` included, the option is
ignored and the config's ``data_prefix`` stays: the listed videos are looked
up in the wrong folder.

The tool imports csn_plugin through the config's ``custom_imports`` before
it calls ``merge_args``. When that happens (the running ``__main__`` is the
tool), its ``merge_args`` is wrapped: after it ran, a dataset registered as
a subclass of ``VideoDataset`` gets ``data_prefix=dict(video=<root>)``, as
``VideoDataset`` does. MMAction2's files are not changed.
"""
import functools
import os.path as osp
import sys

TOOL_FILE = 'clip_feature_extraction.py'

__all__ = ['install_feature_extraction_video_root']


def _is_video_dataset(dataset_type):
    from mmaction.datasets import VideoDataset
    from mmaction.registry import DATASETS
    from mmengine.registry import DefaultScope
    if not isinstance(dataset_type, str):
        cls = dataset_type
    else:
        with DefaultScope.overwrite_default_scope('mmaction'):
            cls = DATASETS.get(dataset_type)
    return isinstance(cls, type) and issubclass(cls, VideoDataset)


def _apply_video_root(merge_args):

    @functools.wraps(merge_args)
    def wrapped(cfg, args):
        video_root = args.video_root
        cfg = merge_args(cfg, args)
        dataset = cfg.test_dataloader.dataset
        if video_root is not None and _is_video_dataset(dataset.type):
            dataset.data_prefix = dict(video=video_root)
            args.video_root = dataset.data_prefix
        return cfg

    wrapped.__csn_patched__ = True
    return wrapped


def install_feature_extraction_video_root():
    """Wrap the running ``clip_feature_extraction`` tool's ``merge_args``;
    does nothing in any other program. Safe to call more than once.

    Returns:
        bool: Whether it was wrapped now.
    """
    main = sys.modules.get('__main__')
    merge_args = getattr(main, 'merge_args', None)
    if (merge_args is None
            or osp.basename(getattr(main, '__file__', '') or '') != TOOL_FILE
            or getattr(merge_args, '__csn_patched__', False)):
        return False
    main.merge_args = _apply_video_root(merge_args)
    return True
