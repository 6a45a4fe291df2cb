"""csn_plugin.tools.train folds MMAction2's training options into the
config."""
import logging
import os.path as osp
import subprocess
import sys

import pytest

from csn_plugin.tools.runner_args import load_config
from csn_plugin.tools.train import apply_train_args, parse_args

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MOTION = osp.join(REPO, 'configs', 'ircsn_r26_8x112_motion.py')


def configure(*argv):
    args = parse_args([MOTION, *argv])
    return apply_train_args(load_config(args), args)


def test_defaults():
    cfg = configure()
    assert cfg.launcher == 'none'
    assert cfg.work_dir == osp.join('./work_dirs', 'ircsn_r26_8x112_motion')
    assert cfg.randomness == dict(seed=None)
    assert cfg.resume is False and cfg.load_from is None
    assert cfg.val_dataloader is not None


@pytest.fixture
def on_device(monkeypatch):
    """Make the train tool see ``device`` as mmengine's device."""
    def set_device(device):
        monkeypatch.setattr('csn_plugin.tools.train.get_device',
                            lambda: device)
    return set_device


def test_options(on_device):
    on_device('cuda')
    cfg = configure('--no-validate', '--amp', '--auto-scale-lr', '--seed',
                    '3', '--deterministic', '--work-dir', 'out',
                    '--launcher', 'pytorch', '--cfg-options',
                    'train_cfg.max_epochs=2')
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.val_evaluator is None
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.auto_scale_lr.enable is True
    assert cfg.randomness == dict(seed=3, deterministic=True)
    assert (cfg.work_dir, cfg.launcher) == ('out', 'pytorch')
    assert cfg.train_cfg.max_epochs == 2


def test_amp_on_the_cpu_is_bf16(on_device):
    on_device('cpu')
    cfg = configure('--amp')
    assert cfg.optim_wrapper.type == 'BF16OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper


@pytest.mark.parametrize('device, amp', [('cpu', 'BF16OptimWrapper'),
                                         ('cuda', 'AmpOptimWrapper')])
def test_amp_refuses_another_wrapper(on_device, device, amp):
    on_device(device)
    with pytest.raises(ValueError, match=f'--amp replaces OptimWrapper by '
                       f'{amp} on {device}; the config uses '
                       'ApexOptimWrapper'):
        configure('--amp', '--cfg-options',
                  'optim_wrapper.type=ApexOptimWrapper')


def test_validate_from_mmaction2_0x(monkeypatch):
    """``--validate`` changes nothing and says why in one INFO line."""
    logged = []
    monkeypatch.setattr(
        'csn_plugin.tools.train.print_log',
        lambda msg, logger=None, level=None: logged.append((msg, level)))
    cfg = configure('--validate', '--seed', '0', '--deterministic')
    assert cfg.val_dataloader is not None and cfg.val_cfg is not None
    assert cfg.randomness == dict(seed=0, deterministic=True)
    ((message, level), ) = logged
    assert level == logging.INFO
    assert message.startswith('--validate is the MMAction2 0.x option; 1.x '
                              'validates at every train_cfg.val_interval '
                              '(1 here)')
    assert configure() and len(logged) == 1  # no line without --validate


def test_validate_and_no_validate_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        parse_args([MOTION, '--validate', '--no-validate'])
    assert 'not allowed with argument' in capsys.readouterr().err


@pytest.mark.parametrize('argv, resume, load_from', [
    (('--resume', ), True, None),
    (('--resume', 'work/epoch_3.pth'), True, 'work/epoch_3.pth'),
])
def test_resume(argv, resume, load_from):
    cfg = configure(*argv)
    assert (cfg.resume, cfg.load_from) == (resume, load_from)


def test_help_hides_gpus_from_mim():
    """mim appends ``--device cpu`` to the command when the tool's help
    mentions ``--gpus``; this tool takes no such option."""
    result = subprocess.run(
        [sys.executable, '-m', 'csn_plugin.tools.train', '-h'],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '--launcher' in result.stdout
    assert '--gpus' not in result.stdout
