"""switch_to_deploy(): a visible rewrite of the module tree. print() shows the
fused units, hooks on them fire, the BatchNorms are gone, and every network
of the design space and SEVNet computes what it computed before."""
import pytest
import torch
from csn_reference import builtin_csn, max_relative_error, randomize_bn
from torch.nn.modules.batchnorm import _BatchNorm

from csn_plugin.models import FactorizedResNet3d, ResNet3dCSN, SEVNet
from csn_plugin.models.acceleration import FusedConv3d, disabled

CLIP = (1, 3, 8, 32, 32)


def clip():
    return torch.randn(CLIP, generator=torch.Generator().manual_seed(1))


def ready(model):
    torch.manual_seed(0)
    model.init_weights()
    randomize_bn(model, shift=.2)
    return model.eval()


def deploy_matches(model, tolerance=1e-5):
    x = clip()
    with torch.no_grad(), disabled('fused'):
        expected = model(x)
    model.switch_to_deploy()
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    with torch.no_grad():
        fused = model(x)  # oneDNN's fused kernels where the CPU has them
        with disabled('fused'):
            modules = model(x)  # FusedConv3d modules one by one
    assert max_relative_error(fused, expected) < tolerance
    assert max_relative_error(modules, expected) < tolerance


@pytest.mark.parametrize('conv_type', ['3d', 'gc', 'ip', 'ir'])
@pytest.mark.parametrize('depth', [18, 26])
def test_design_space_deploys(depth, conv_type):
    groups = 4 if conv_type == 'gc' else 1
    deploy_matches(ready(FactorizedResNet3d(
        depth, conv_type=conv_type, groups=groups, base_channels=8)))


@pytest.mark.parametrize('with_se', [False, True])
def test_sevnet_deploys(with_se):
    model = ready(SEVNet(arch='s', with_se=with_se))
    deploy_matches(model)
    # the SE gate's ReLU conv is fused, its sigmoid conv stays
    if with_se:
        se = model.layer1[1].branch[-1]
        assert type(se.fc1) is FusedConv3d
        assert type(se.fc2).__name__ == 'ConvModule'


def test_print_shows_the_fused_units_and_their_hooks_fire():
    model = ready(ResNet3dCSN(50, base_channels=8, with_pool2=False))
    model.switch_to_deploy()
    text = str(model)
    assert 'FusedConv3d(8, 8, kernel_size=(3, 3, 3)' in text
    assert 'groups=8, relu=True)' in text and 'BatchNorm' not in text
    seen = []
    assert ('(last): FusedConv3d(64, 256, kernel_size=(1, 1, 1), stride=(1, '
            '1, 1), relu=True, adds_residual=True)') in text
    assert 'FusedResidualBlock3d' in text and 'Bottleneck3d' not in text
    targets = [model.conv1, model.layer4[1].last, model.layer3[0].downsample,
               model.layer2[0].branch[1], model.layer2[0]]
    handles = [m.register_forward_hook(
        lambda module, args, out: seen.append(out.shape)) for m in targets]
    with torch.no_grad():
        model(clip())
    for handle in handles:
        handle.remove()
    assert len(seen) == len(targets)


def test_deployed_matches_mmaction2_builtin():
    cfg = dict(base_channels=8, with_pool2=False, zero_init_residual=False)
    builtin = builtin_csn(depth=50, **cfg)
    builtin.init_weights()
    randomize_bn(builtin, shift=.2)
    builtin.eval()  # its train() returns None
    plugin = ResNet3dCSN(50, **cfg)
    plugin.load_state_dict(builtin.state_dict())
    plugin.switch_to_deploy()
    with torch.no_grad():
        assert max_relative_error(plugin(clip()), builtin(clip())) < 1e-5


def test_deployed_backbone_refuses_training():
    model = ResNet3dCSN(26, base_channels=8)
    keys = set(model.state_dict())
    model.switch_to_deploy()
    assert model.deploy and not model.training
    model.switch_to_deploy()  # a no-op the second time
    model.eval()
    with pytest.raises(RuntimeError, match='switch_to_deploy'):
        model.train()
    deployed = set(model.state_dict())
    assert 'conv1.weight' in deployed and 'conv1.bias' in deployed
    assert not deployed & {k for k in keys if '.bn.' in k}


def test_checkpoint_layout_kept_until_switched():
    model = ResNet3dCSN(26, base_channels=8)
    keys = set(model.state_dict())
    model.eval()
    with torch.no_grad():
        model(clip())
    assert set(model.state_dict()) == keys
    assert any(k.endswith('bn.running_var') for k in keys)
    assert not any(k.endswith('conv.bias') for k in keys)


def test_units_with_explicit_padding_or_their_own_conv_stay():
    """A reflect-padded unit (mmcv's ``with_explicit_padding``) and a conv
    class that overrides ``forward`` are not fused: their blocks keep them,
    and the deployed backbone computes what it did."""
    from mmcv.cnn import ConvModule

    from csn_plugin.models.acceleration import unit_problem

    class Doubling(torch.nn.Conv3d):

        def forward(self, x):
            return 2 * super().forward(x)

    model = ready(ResNet3dCSN(26, base_channels=8, with_pool2=False))
    block = model.layer1[0]
    old = block.conv2[0]
    # mmcv's padding layers are 2-D: the 3-D one is set by hand
    block.conv2[0] = ConvModule(8, 8, 3, padding=1, padding_mode='reflect',
                                groups=8, conv_cfg=dict(type='Conv3d'),
                                norm_cfg=dict(type='BN3d'),
                                act_cfg=dict(type='ReLU'))
    block.conv2[0].padding_layer = torch.nn.ReflectionPad3d(1)
    assert 'pads explicitly' in unit_problem(block.conv2[0])
    doubling = Doubling(32, 8, 1, bias=False)
    doubling.load_state_dict(model.layer1[1].conv1.conv.state_dict())
    model.layer1[1].conv1.conv = doubling
    assert 'not a zero-padded' in unit_problem(model.layer1[1].conv1)
    del old
    ready(model)
    with torch.no_grad():
        expected = model(clip())
        model.switch_to_deploy()
        assert max_relative_error(model(clip()), expected) < 1e-5
    assert type(model.layer1[0].branch[1]).__name__ == 'ConvModule'
    assert type(model.layer1[1].branch[0]).__name__ == 'ConvModule'
