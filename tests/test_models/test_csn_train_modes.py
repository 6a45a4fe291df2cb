"""``train()``/``eval()``, ``norm_eval``, ``bn_frozen`` and
``frozen_stages`` of ResNet3dCSN, checked by a real SGD step."""
import pytest
import torch
from csn_reference import (I3D_HEAD, bn_layers, randomize_bn,
                           use_mmaction_scope)
from mmaction.registry import MODELS

from csn_plugin.models import ResNet3dCSN

# small enough for a CPU backward step
ARCH = dict(depth=26, base_channels=8)


def build(**kwargs):
    return randomize_bn(ResNet3dCSN(**ARCH, **kwargs))


def snapshot(modules):
    """Copies of the parameters and buffers of ``modules``."""
    return [{k: v.detach().clone()
             for k, v in m.state_dict().items()} for m in modules]


def changed(before, modules):
    """Per module: the state-dict keys whose values differ from ``before``."""
    return [{k for k, v in m.state_dict().items() if not torch.equal(v, b[k])}
            for b, m in zip(before, modules)]


def sgd_step(model):
    torch.manual_seed(0)
    optim = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model(torch.randn(2, 3, 4, 32, 32)).square().mean().backward()
    optim.step()


def convs(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]


@pytest.mark.parametrize(
    'kwargs', [{}, dict(norm_eval=True), dict(bn_frozen=True),
               dict(frozen_stages=2)])
def test_train_and_eval_return_the_module(kwargs):
    model = ResNet3dCSN(**ARCH, **kwargs)
    assert model.train() is model
    assert model.train(False) is model
    assert model.eval() is model
    assert not any(m.training for m in model.modules())


def test_default_training_updates_bn():
    model = build().train()
    assert all(m.training for m in model.modules())
    norms = bn_layers(model)
    before = snapshot(norms)
    sgd_step(model)
    assert all(
        diff == {'running_mean', 'running_var', 'num_batches_tracked',
                 'weight', 'bias'} for diff in changed(before, norms))


def test_bn_frozen_freezes_statistics_and_affine_parameters():
    model = build(bn_frozen=True)
    assert model.norm_eval is True  # implied
    assert model.train() is model
    norms = bn_layers(model)
    assert not any(m.training for m in norms)
    assert not any(p.requires_grad for m in norms for p in m.parameters())
    conv_layers = convs(model)
    assert all(m.training for m in conv_layers)
    bn_before, conv_before = snapshot(norms), snapshot(conv_layers)
    sgd_step(model)
    assert all(not diff for diff in changed(bn_before, norms))
    assert all(
        diff == {'weight'} for diff in changed(conv_before, conv_layers))


def test_bn_frozen_survives_recognizer_train():
    """The runner calls ``train()`` on the whole recognizer."""
    use_mmaction_scope()
    model = MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=dict(
                type='ResNet3dCSN', norm_eval=True, bn_frozen=True, **ARCH),
            cls_head={**I3D_HEAD, 'in_channels': 256}))
    model.train()
    norms = bn_layers(model.backbone)
    assert norms and not any(m.training for m in norms)
    assert not any(p.requires_grad for m in norms for p in m.parameters())
    assert model.cls_head.training


def test_bn_frozen_contradicting_norm_eval_raises():
    with pytest.raises(ValueError, match='norm_eval=False'):
        ResNet3dCSN(**ARCH, bn_frozen=True, norm_eval=False)


def test_norm_eval_freezes_statistics_but_trains_affine_parameters():
    model = build(norm_eval=True).train()
    norms = bn_layers(model)
    assert not any(m.training for m in norms)
    assert all(p.requires_grad for m in norms for p in m.parameters())
    before = snapshot(norms)
    sgd_step(model)
    assert all(diff == {'weight', 'bias'} for diff in changed(before, norms))


def test_frozen_stages():
    model = build(frozen_stages=2).train()
    frozen = [model.conv1, model.layer1, model.layer2]
    trained = [model.layer3, model.layer4]
    for part in frozen:
        assert not any(m.training for m in part.modules())
        assert not any(p.requires_grad for p in part.parameters())
    for part in trained:
        assert all(m.training for m in part.modules())
        assert all(p.requires_grad for p in part.parameters())
    before = snapshot(frozen + trained)
    sgd_step(model)
    diffs = changed(before, frozen + trained)
    assert diffs[:3] == [set(), set(), set()]
    assert all(len(diff) == len(m.state_dict())
               for diff, m in zip(diffs[3:], trained))
