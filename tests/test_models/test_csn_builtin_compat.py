"""The plugin's ResNet3dCSN is state-dict compatible with MMAction2's
built-in class and computes the same function."""
import copy

import pytest
import torch
from csn_reference import (I3D_HEAD, BuiltinResNet3dCSN, builtin_csn,
                           max_relative_error, randomize_bn,
                           use_mmaction_scope)
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.runner import load_checkpoint

from csn_plugin.models import ResNet3dCSN


def shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize('mode', ['ir', 'ip'])
def test_builtin_state_dict_loads_strict_and_outputs_agree(mode):
    torch.manual_seed(0)
    builtin = randomize_bn(
        builtin_csn(depth=50, bottleneck_mode=mode, with_pool2=False))
    plugin = ResNet3dCSN(depth=50, bottleneck_mode=mode, with_pool2=False)
    plugin.load_state_dict(builtin.state_dict(), strict=True)
    builtin.eval()  # the built-in's train() returns None: do not chain
    plugin.eval()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        expected = builtin(x)
        actual = plugin(x)
    assert actual.shape == expected.shape == (1, 2048, 1, 2, 2)
    assert max_relative_error(actual, expected) <= 1e-5


@pytest.mark.parametrize('mode', ['ir', 'ip'])
def test_training_forward_agrees_with_builtin(mode):
    """In train mode BN uses batch statistics and updates running ones: the
    BN momentum and eps must match too (with_pool2 at its default).

    In float64: here layer4's BN normalizes over 2 values a channel, which
    magnifies float32 rounding, and the plugin's channels_last_3d kernels
    sum in another order than the built-in's (about 6e-3 apart in float32).
    """
    torch.manual_seed(0)
    arch = dict(depth=50, base_channels=16, bottleneck_mode=mode)
    builtin = randomize_bn(builtin_csn(**arch)).double()
    plugin = ResNet3dCSN(**arch).double()
    plugin.load_state_dict(builtin.state_dict(), strict=True)
    builtin.train()
    plugin.train()
    x = torch.randn(2, 3, 8, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        expected = builtin(x)
        actual = plugin(x)
    assert max_relative_error(actual, expected) <= 1e-5
    after_builtin = builtin.state_dict()
    for key, value in plugin.state_dict().items():
        if 'running_' in key:
            assert max_relative_error(value, after_builtin[key]) <= 1e-5, key


@pytest.mark.parametrize('depth, mode', [(101, 'ir'), (152, 'ir'),
                                         (152, 'ip')])
def test_deep_builtin_keys_and_shapes_match(depth, mode):
    """Structure only (no forward) for the published depths."""
    builtin = builtin_csn(depth=depth, bottleneck_mode=mode, with_pool2=False)
    plugin = ResNet3dCSN(depth=depth, bottleneck_mode=mode, with_pool2=False)
    assert shapes(plugin) == shapes(builtin)
    assert list(plugin.state_dict()) == list(builtin.state_dict())


def test_published_recognizer_checkpoint_loads_strict(tmp_path):
    """A checkpoint in MMAction2's published layout (``state_dict`` with
    ``backbone.*`` and ``cls_head.fc_cls.*``, plus ``meta``) made with the
    built-in backbone loads strictly into a recognizer built from the same
    config, where ``ResNet3dCSN`` now resolves to the plugin."""
    use_mmaction_scope()
    backbone = dict(
        pretrained2d=False,
        pretrained=None,
        depth=50,
        with_pool2=False,
        bottleneck_mode='ir',
        norm_eval=False,
        zero_init_residual=False)
    torch.manual_seed(0)
    reference = MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=dict(type=BuiltinResNet3dCSN, **backbone),
            cls_head=I3D_HEAD))
    assert type(reference.backbone) is BuiltinResNet3dCSN
    randomize_bn(reference.backbone)
    state_dict = reference.state_dict()
    assert {k.split('.')[0] for k in state_dict} == {'backbone', 'cls_head'}
    assert sorted(k for k in state_dict if k.startswith('cls_head.')) == [
        'cls_head.fc_cls.bias', 'cls_head.fc_cls.weight'
    ]
    path = str(tmp_path / 'ircsn_r50_kinetics400.pth')
    torch.save(
        dict(
            meta=dict(mmaction_version='1.2.0', epoch=58, iter=0),
            state_dict=state_dict), path)

    model = MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=dict(type='ResNet3dCSN', **backbone),
            cls_head=I3D_HEAD))
    assert type(model.backbone) is ResNet3dCSN
    load_checkpoint(model, path, map_location='cpu', strict=True)

    reference.eval()
    model.eval()
    x = torch.randn(1, 2, 3, 8, 32, 32)  # (N, clips, C, T, H, W)

    def test_scores(recognizer):
        with torch.no_grad():
            feats = recognizer(x, mode='tensor')
            logits = recognizer.cls_head(feats)
            [sample] = recognizer(x, [ActionDataSample()], mode='predict')
        return feats, logits, sample.pred_score

    for actual, expected in zip(test_scores(model), test_scores(reference)):
        assert max_relative_error(actual, expected) <= 1e-5
    feats, logits, score = test_scores(model)
    assert feats.shape == (2, 2048, 1, 1, 1)
    assert logits.shape == (2, 400)
    assert score.shape == (400, )


def test_optimizer_state_of_a_builtin_run_resumes():
    """Optimizer states are saved by parameter index, so resuming a run
    trained with the built-in needs the same parameter order. (In float64,
    where the plugin's channels_last_3d kernels cannot differ from the
    built-in's by float32 rounding, which train-mode BN over 2 clips
    magnifies.)"""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 16, 16, dtype=torch.float64)
    # narrow, so that the (slow on CPU) depthwise backward stays cheap
    arch = dict(depth=50, base_channels=8, with_pool2=False)

    def sgd_step(model, state=None):
        optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        if state is not None:  # copied: step() updates buffers in place
            optim.load_state_dict(copy.deepcopy(state))
        optim.zero_grad()
        model(x).square().mean().backward()
        optim.step()
        return optim.state_dict()

    builtin = randomize_bn(builtin_csn(**arch)).double()
    builtin.train()
    saved = sgd_step(builtin)  # the run that wrote the checkpoint
    plugin = ResNet3dCSN(**arch).double()
    plugin.load_state_dict(builtin.state_dict(), strict=True)
    plugin.train()
    sgd_step(builtin, saved)
    sgd_step(plugin, saved)
    expected = dict(builtin.named_parameters())
    for name, param in plugin.named_parameters():
        assert max_relative_error(param.detach(),
                                  expected[name].detach()) <= 1e-5, name
