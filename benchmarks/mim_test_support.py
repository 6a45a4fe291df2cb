"""Imported by the configs that ``csn_speed.py --mim-test`` writes.

Registers MMAction2's own ``ResNet3dCSN`` as ``MMAction2ResNet3dCSN`` (the
plugin takes the name ``ResNet3dCSN``), so that one ``mim test`` runs the
built-in backbone, and a hook that prints how long the test loop took.
"""
import time

import csn_plugin  # noqa: F401  (fixes the stack; mmaction.models imports)
from mmaction.models.backbones.resnet3d_csn import ResNet3dCSN
from mmaction.registry import HOOKS, MODELS
from mmengine.hooks import Hook

MODELS.register_module('MMAction2ResNet3dCSN', module=ResNet3dCSN)


@HOOKS.register_module()
class TestLoopTimerHook(Hook):
    """Print ``TEST_LOOP_SECONDS <seconds> <videos>`` after testing: from
    before any other hook's ``before_test_epoch`` (BN folding included) to
    after every ``after_test_epoch`` (metrics included)."""

    priority = 'HIGHEST'

    def before_test_epoch(self, runner):
        self.start = time.perf_counter()

    def after_test(self, runner):
        seconds = time.perf_counter() - self.start
        videos = len(runner.test_dataloader.dataset)
        print(f'TEST_LOOP_SECONDS {seconds:.3f} {videos}', flush=True)
