"""What the train and test tools share: the config file, its command-line
overrides, the launcher, and the mmengine runner built from them.

Importing this module imports ``csn_plugin``, so the plugin's models replace
MMAction2's even for a config without ``custom_imports``.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import csn_plugin  # noqa: F401  (registers the plugin's models)

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def add_runner_args(parser):
    """Add the config path and the options both tools take to ``parser``."""
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--work-dir',
        help='where logs, checkpoints and metrics go; defaults to '
        './work_dirs/<config name>, or work_dir in the config')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='override config entries, e.g. train_cfg.max_epochs=2 '
        'model.backbone.depth=50 "param_scheduler.1.milestones=[16,24]"; '
        'applied before the other options')
    parser.add_argument(
        '--launcher',
        choices=LAUNCHERS,
        default='none',
        help='how the processes were started: none (one process), pytorch '
        '(torchrun / torch.distributed.launch), slurm (srun) or mpi')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument(
        '--local-rank', '--local_rank', type=int, default=0,
        help=argparse.SUPPRESS)
    return parser


def load_config(args):
    """Read ``args.config`` and apply ``--cfg-options``, ``--launcher`` and
    ``--work-dir``.

    Returns:
        mmengine.Config: The config to adjust further and build a runner from.
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(args.config))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    return cfg


def build_runner(cfg):
    """The config's ``runner_type`` from the ``RUNNERS`` registry, or
    mmengine's ``Runner``."""
    if 'runner_type' in cfg:
        from mmaction.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
