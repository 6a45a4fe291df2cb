"""SwitchToDeployHook folds the recognizer's backbone before testing."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import EMAHook
from mmengine.registry import init_default_scope

from csn_plugin.engine import SwitchToDeployHook
from csn_plugin.engine.hooks import switch_to_deploy_hook
from csn_plugin.models.acceleration import CompiledInference, FastestRoute
from mmaction.registry import HOOKS, MODELS

RECOGNIZER = dict(
    type='Recognizer3D',
    backbone=dict(type='ResNet3dCSN', depth=26, base_channels=8,
                  with_pool2=False),
    cls_head=dict(type='I3DHead', num_classes=4, in_channels=256),
    data_preprocessor=dict(type='ActionDataPreprocessor',
                           format_shape='NCTHW'))


def scores(model, x):
    with torch.no_grad():
        return model(x, mode='tensor')


@pytest.fixture
def recognizer():
    torch.manual_seed(0)
    init_default_scope('mmaction')
    model = MODELS.build(RECOGNIZER)
    model.init_weights()
    return model.eval()


def test_registered():
    assert HOOKS.get('SwitchToDeployHook') is SwitchToDeployHook
    assert isinstance(HOOKS.build(dict(type='SwitchToDeployHook')),
                      SwitchToDeployHook)


@pytest.mark.parametrize('compile', [False, True, 'auto'])
def test_switches_the_backbone_before_the_test_epoch(recognizer, compile):
    """Deployed, and with ``compile`` wrapped in CompiledInference (which
    the suite's CSN_PLUGIN_DISABLE=compile keeps from compiling here; see
    test_compiled.py for that)."""
    x = torch.randn(2, 1, 3, 8, 32, 32)  # N, clips, C, T, H, W
    expected = scores(recognizer, x)
    runner = SimpleNamespace(model=recognizer, hooks=[])
    for _ in range(2):  # testing twice leaves it deployed, folded once
        SwitchToDeployHook(compile=compile).before_test_epoch(runner)
        backbone = recognizer.backbone
        wrapper = {False: None, True: CompiledInference,
                   'auto': FastestRoute}[compile]
        assert type(backbone) is (wrapper or type(backbone))
        assert (backbone.module if compile else backbone).deploy
        torch.testing.assert_close(scores(recognizer, x), expected,
                                   rtol=1e-4, atol=1e-5)


def test_runs_after_weight_swapping_hooks():
    assert SwitchToDeployHook.priority == 'LOW'


def test_compiling_is_opt_in():
    assert SwitchToDeployHook().compile is False


@pytest.fixture
def logged(monkeypatch):
    """The messages the hook logs, with their levels."""
    messages = []
    monkeypatch.setattr(
        switch_to_deploy_hook, 'print_log',
        lambda msg, logger=None, level=20: messages.append((level, msg)))
    return messages


def test_leaves_the_model_alone_with_ema(recognizer, logged):
    runner = SimpleNamespace(model=recognizer, hooks=[EMAHook()])
    SwitchToDeployHook().before_test_epoch(runner)
    assert not recognizer.backbone.deploy
    assert logged[0][0] == 30 and 'EMAHook' in logged[0][1]


def test_warns_when_nothing_can_deploy(logged):
    runner = SimpleNamespace(model=torch.nn.Linear(2, 2), hooks=[])
    SwitchToDeployHook().before_test_epoch(runner)
    assert logged[0][0] == 30 and 'nothing changed' in logged[0][1]
