"""Without switch_to_deploy() the plugin's ResNet3dCSN behaves as MMAction2's
module tree: every forward hook fires, in train and eval, with and without
autograd, and sees the tensors MMAction2's modules compute (within 1e-5).
After switch_to_deploy() every module of the new tree fires its hooks, and
a stage called on its own runs the code it runs inside the backbone."""
import copy

import pytest
import torch
from csn_reference import builtin_csn, max_relative_error, randomize_bn

from csn_plugin.models import ResNet3dCSN
from csn_plugin.models.acceleration import FusedResidualBlock3d

#: the issue's hook targets: the last stage, a block, a ReLU, convs, BNs, a
#: downsample (its conv and BN) and the stem
HOOKED = ('layer4', 'layer4.1', 'layer4.1.relu', 'layer4.1.conv3.conv',
          'layer4.1.conv3.bn', 'layer3.0.downsample.conv',
          'layer3.0.downsample.bn', 'conv1.conv', 'conv1.bn',
          'layer2.0.conv2.0.conv')
SMALL = dict(depth=50, base_channels=8, with_pool2=False,
             zero_init_residual=False)


@pytest.fixture(scope='module')
def pair():
    """MMAction2's ResNet3dCSN and the plugin's, same weights, eval mode."""
    torch.manual_seed(0)
    builtin = builtin_csn(**SMALL)
    builtin.init_weights()
    randomize_bn(builtin, shift=.2)
    builtin.eval()  # its train() returns None
    plugin = ResNet3dCSN(**SMALL)
    plugin.load_state_dict(builtin.state_dict())
    return builtin, plugin.eval()


@pytest.fixture
def clip():
    return torch.randn(2, 3, 8, 32, 32,
                       generator=torch.Generator().manual_seed(1))


def record(model, names=HOOKED):
    """Hook ``names``; returns (what they saw, handles)."""
    seen, modules = {}, dict(model.named_modules())

    def hook(name):
        return lambda module, args, out: seen.__setitem__(
            name, out.detach().clone())

    handles = [modules[n].register_forward_hook(hook(n)) for n in names]
    return seen, handles


def remove(handles):
    for handle in handles:
        handle.remove()


@pytest.mark.parametrize('context', [torch.no_grad, torch.inference_mode,
                                     torch.enable_grad])
def test_every_hook_fires_with_mmaction2s_tensors(pair, clip, context):
    builtin, plugin = pair
    expected, hb = record(builtin)
    seen, hp = record(plugin)
    try:
        with context():
            builtin(clip)
            plugin(clip)
    finally:
        remove(hb + hp)
    assert sorted(seen) == sorted(expected) == sorted(HOOKED)
    for name in HOOKED:
        # the conv's own output (BN not folded in) and BN's, as MMAction2
        assert max_relative_error(seen[name], expected[name]) < 1e-5, name


def test_train_mode_hooks_fire_with_autograd(pair, clip):
    """Train mode, BN on batch statistics: the same 10 hooks, in float64
    (where only the logic can differ; with 2 values a channel in layer4,
    batch statistics magnify float32 rounding)."""
    builtin, plugin = (copy.deepcopy(m).double() for m in pair)
    builtin.train()
    plugin.train()
    expected, hb = record(builtin)
    seen, hp = record(plugin)
    plugin(clip.double()).sum().backward()
    builtin(clip.double())
    remove(hb + hp)
    assert sorted(seen) == sorted(expected) == sorted(HOOKED)
    for name in HOOKED:
        assert max_relative_error(seen[name], expected[name]) < 1e-10, name


def test_a_hook_that_changes_an_output_takes_effect(pair, clip):
    _, plugin = pair
    handle = plugin.layer4.register_forward_hook(
        lambda module, args, out: torch.zeros_like(out))
    try:
        with torch.no_grad():
            out = plugin(clip)
    finally:
        handle.remove()
    assert out.abs().max() == 0
    handle = plugin.layer3[0].conv1.bn.register_forward_hook(
        lambda module, args, out: out * 0)
    try:
        with torch.no_grad():
            changed = plugin(clip)
    finally:
        handle.remove()
    with torch.no_grad():
        assert not torch.allclose(changed, plugin(clip))


def test_global_hooks_fire_and_see_every_module(pair, clip):
    builtin, plugin = pair
    calls = {}

    def hook(module, args, out):
        calls[id(module)] = calls.get(id(module), 0) + 1

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        with torch.no_grad():
            plugin(clip)
    finally:
        handle.remove()
    convs_and_bns = [
        m for m in plugin.modules()
        if isinstance(m, (torch.nn.Conv3d, torch.nn.BatchNorm3d))
    ]
    assert all(calls.get(id(m)) == 1 for m in convs_and_bns)


def every_module_fires(model, x):
    calls = {}
    handles = [
        m.register_forward_hook(lambda mod, args, out, name=name: calls.
                                __setitem__(name, calls.get(name, 0) + 1))
        for name, m in model.named_modules()
    ]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        remove(handles)
    return calls, out


@pytest.mark.parametrize('deploy', [False, True])
def test_every_module_hook_fires_in_eval_and_deploy(pair, clip, deploy):
    _, plugin = pair
    model = copy.deepcopy(plugin)
    if deploy:
        model.switch_to_deploy()
        assert isinstance(model.layer1[0], FusedResidualBlock3d)
    calls, out = every_module_fires(model, clip)
    silent = [name for name, _ in model.named_modules() if name not in calls]
    assert silent == ['pool2']  # with_pool2=False: never called
    assert calls[''] == 1
    with torch.no_grad():  # and a hook did not change what runs
        assert torch.equal(out, model(clip))


@pytest.mark.parametrize('deploy', [False, True])
def test_a_stage_alone_runs_what_it_runs_inside(pair, clip, deploy):
    """``backbone.layer1(x)`` computes what ``backbone(x)`` computes at
    layer1, the same modules called the same way."""
    _, plugin = pair
    model = copy.deepcopy(plugin)
    if deploy:
        model.switch_to_deploy()
    seen, handles = record(model, ['layer1', 'maxpool'])
    try:
        with torch.no_grad():
            model(clip)
    finally:
        remove(handles)
    inside, calls = [], []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, args, out: calls.append(module))
    try:
        with torch.no_grad():
            alone = model.layer1(seen['maxpool'])
            inside = list(calls)
            calls.clear()
            model(clip)
    finally:
        handle.remove()
    assert torch.equal(alone, seen['layer1'])
    layer1 = set(map(id, model.layer1.modules()))
    assert inside == [m for m in calls if id(m) in layer1]


def test_deployed_hook_that_changes_an_output_takes_effect(pair, clip):
    _, plugin = pair
    model = copy.deepcopy(plugin)
    model.switch_to_deploy()
    handle = model.layer3[0].last.register_forward_hook(
        lambda module, args, out: out * 0)
    try:
        with torch.no_grad():
            changed = model(clip)
    finally:
        handle.remove()
    with torch.no_grad():
        assert not torch.allclose(changed, model(clip))


def test_weights_in_channels_last_3d_and_checkpoint_values_unchanged(pair):
    builtin, plugin = pair
    assert plugin.conv1.conv.weight.is_contiguous(
        memory_format=torch.channels_last_3d)
    for key, value in builtin.state_dict().items():
        assert torch.equal(plugin.state_dict()[key], value), key
