"""Imported by the configs that ``csn_speed.py --mim-test`` writes.

Registers MMAction2's own ``ResNet3dCSN`` as ``MMAction2ResNet3dCSN`` (the
plugin takes the name ``ResNet3dCSN``), so that one ``mim test`` runs the
built-in backbone; a hook that compiles that backbone as a user of the
public compiler would; and a hook that prints how long the test loop took.
"""
import time

import torch

import csn_plugin  # noqa: F401  (fixes the stack; mmaction.models imports)
from mmaction.models.backbones.resnet3d_csn import ResNet3dCSN
from mmaction.registry import HOOKS, MODELS
from mmengine.hooks import Hook

MODELS.register_module('MMAction2ResNet3dCSN', module=ResNet3dCSN)


@HOOKS.register_module()
class TorchCompileBackboneHook(Hook):
    """Before testing, run the model's backbone through ``torch.compile``
    as it is: weights in channels_last_3d, inductor with freezing."""

    priority = 'LOW'

    def before_test_epoch(self, runner):
        model = runner.model
        backbone = model.backbone.to(memory_format=torch.channels_last_3d)
        model.backbone = torch.compile(backbone, dynamic=False,
                                       options=dict(freezing=True))


@HOOKS.register_module()
class TestLoopTimerHook(Hook):
    """Print ``TEST_LOOP_SECONDS <seconds> <videos> <first batch seconds>
    <first batch videos> <peak RSS MiB>`` after testing: from before any
    other hook's ``before_test_epoch`` (BN folding included) to after every
    ``after_test_epoch`` (metrics included); the first batch (where
    compiling happens) also apart; the test process's own peak RSS
    (``VmHWM``: since its exec, DataLoader workers not included)."""

    priority = 'HIGHEST'

    def before_test_epoch(self, runner):
        self.start = time.perf_counter()
        self.first = None

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None):
        if batch_idx == 0:
            self.first = (time.perf_counter() - self.start,
                          len(outputs or []))

    def after_test(self, runner):
        seconds = time.perf_counter() - self.start
        videos = len(runner.test_dataloader.dataset)
        first_s, first_videos = self.first
        print(f'TEST_LOOP_SECONDS {seconds:.3f} {videos} {first_s:.3f} '
              f'{first_videos} {peak_rss_mib():.0f}', flush=True)


def peak_rss_mib():
    """This process's peak resident set size (``VmHWM``), MiB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')
