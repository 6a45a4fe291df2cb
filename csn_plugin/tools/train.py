"""Train a recognizer: ``python -m csn_plugin.tools.train CONFIG [options]``.

Takes the options of MMAction2 1.x's ``tools/train.py`` and imports
csn_plugin before reading the config, so ``mim train csn_plugin CONFIG`` uses
the plugin's models with or without ``custom_imports`` in the config.

MMAction2 0.x's ``--validate`` (the CSN documentation's training command:
``--validate --seed 0 --deterministic``) is accepted: 1.x validates at every
``train_cfg.val_interval`` unless ``--no-validate`` is given, so it changes
nothing and one INFO line says so.
"""
import argparse
import logging

from mmengine.device import get_device
from mmengine.logging import print_log

from csn_plugin.tools.runner_args import (add_runner_args, build_runner,
                                          load_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train an action recognizer with csn_plugin loaded.')
    add_runner_args(parser)
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        metavar='CHECKPOINT',
        help='resume from CHECKPOINT, or, given alone, from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision: AmpOptimWrapper (fp16, dynamic '
        'loss scaling) on a GPU, BF16OptimWrapper on the CPU')
    validate = parser.add_mutually_exclusive_group()
    validate.add_argument(
        '--no-validate', action='store_true',
        help='skip validation during training')
    validate.add_argument(
        '--validate', action='store_true',
        help='MMAction2 0.x option, accepted for old commands: 1.x validates '
        'at every train_cfg.val_interval anyway')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate by the actual total batch size over '
        "the config's auto_scale_lr.base_batch_size")
    parser.add_argument('--seed', type=int, help='random seed')
    parser.add_argument(
        '--diff-rank-seed', action='store_true',
        help='a different seed for each process')
    parser.add_argument(
        '--deterministic', action='store_true',
        help='deterministic algorithms (slower)')
    return parser.parse_args(argv)


def apply_train_args(cfg, args):
    """Fold the training options into ``cfg``."""
    if args.validate:
        interval = (cfg.get('train_cfg') or {}).get('val_interval', 1)
        print_log(
            f'--validate is the MMAction2 0.x option; 1.x validates at every '
            f'train_cfg.val_interval ({interval} here) unless '
            f'--no-validate is given, so it changes nothing.',
            logger='current',
            level=logging.INFO)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.amp:
        use_amp(cfg, get_device())
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError('--auto-scale-lr needs auto_scale_lr = dict('
                           'base_batch_size=...) in the config')
        cfg.auto_scale_lr.enable = True
    randomness = dict(seed=None)  # None: mmengine draws a seed and logs it
    randomness.update(cfg.get('randomness') or {})
    if args.seed is not None:
        randomness['seed'] = args.seed
    if args.diff_rank_seed:
        randomness['diff_rank_seed'] = True
    if args.deterministic:
        randomness['deterministic'] = True
    cfg.randomness = randomness
    return cfg


def use_amp(cfg, device):
    """``--amp`` on ``device`` (mmengine's ``get_device()``): MMAction2's
    ``AmpOptimWrapper`` (fp16, dynamic loss scaling) on a GPU;
    ``BF16OptimWrapper`` on the CPU, where ``AmpOptimWrapper`` refuses to
    build (it warns and trains in fp32 on CPUs without native bf16)."""
    amp = 'BF16OptimWrapper' if device == 'cpu' else 'AmpOptimWrapper'
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper not in ('OptimWrapper', amp):
        raise ValueError(f'--amp replaces OptimWrapper by {amp} on {device}; '
                         f'the config uses {wrapper}')
    cfg.optim_wrapper.type = amp
    if amp == 'AmpOptimWrapper':
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    else:
        print_log('--amp on the CPU: BF16OptimWrapper (bf16 autocast; '
                  "mmengine's AmpOptimWrapper needs a GPU)",
                  logger='current', level=logging.INFO)


def main(argv=None):
    args = parse_args(argv)
    cfg = apply_train_args(load_config(args), args)
    build_runner(cfg).train()


if __name__ == '__main__':
    main()
