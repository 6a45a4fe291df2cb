"""``pretrained`` and ``init_cfg`` load 3D checkpoints written by
MMAction2's built-in ResNet3dCSN, and report mismatched keys by name."""
import pytest
import torch
from csn_reference import (I3D_HEAD, builtin_csn, randomize_bn,
                           use_mmaction_scope)
from mmaction.registry import MODELS

from csn_plugin.models import ResNet3dCSN

# narrow networks keep the checkpoint files small
ARCH = dict(depth=50, base_channels=16)


@pytest.fixture(scope='module')
def builtin_state():
    """Weights of a trained-looking built-in ir-CSN (random convs and BN)."""
    torch.manual_seed(0)
    return randomize_bn(builtin_csn(**ARCH)).state_dict()


@pytest.fixture(scope='module')
def ckpt_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('csn_ckpts')


def save(ckpt_dir, name, obj):
    path = str(ckpt_dir / name)
    torch.save(obj, path)
    return path


def assert_loaded(model, expected):
    state = model.state_dict()
    assert sorted(state) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def recognizer_checkpoint(backbone_state, num_classes=400):
    """MMAction2's published layout: the backbone under ``backbone.``, the
    classifier under ``cls_head.fc_cls.``, and ``meta``."""
    state = {f'backbone.{k}': v for k, v in backbone_state.items()}
    state['cls_head.fc_cls.weight'] = torch.zeros(num_classes, 64 * 16 * 2)
    state['cls_head.fc_cls.bias'] = torch.zeros(num_classes)
    return dict(meta=dict(epoch=58), state_dict=state)


@pytest.mark.parametrize('wrapped', [True, False])
def test_pretrained_path_loads_builtin_weights(builtin_state, ckpt_dir,
                                               wrapped):
    obj = dict(state_dict=builtin_state) if wrapped else builtin_state
    path = save(ckpt_dir, f'backbone_{wrapped}.pth', obj)
    model = ResNet3dCSN(pretrained=path, **ARCH)
    model.init_weights()
    assert_loaded(model, builtin_state)


def test_recognizer_checkpoint_strips_prefix_and_warns_unused_keys(
        builtin_state, ckpt_dir):
    path = save(ckpt_dir, 'recognizer.pth',
                recognizer_checkpoint(builtin_state))
    model = ResNet3dCSN(pretrained=path, **ARCH)
    with pytest.warns(UserWarning, match='not used by the backbone') as rec:
        model.init_weights()
    message = ' '.join(str(w.message) for w in rec)
    assert 'cls_head.fc_cls.weight' in message
    assert 'cls_head.fc_cls.bias' in message
    assert_loaded(model, builtin_state)


def test_missing_keys_raise_naming_them(builtin_state, ckpt_dir):
    lacking = ('conv1.conv.weight', 'layer4.2.conv3.bn.running_var')
    state = {k: v for k, v in builtin_state.items() if k not in lacking}
    path = save(ckpt_dir, 'lacking.pth', dict(state_dict=state))
    model = ResNet3dCSN(pretrained=path, **ARCH)
    with pytest.raises(KeyError) as err:
        model.init_weights()
    for key in lacking:
        assert key in str(err.value)


def test_ip_checkpoint_into_ir_model_names_the_shape_mismatch(ckpt_dir):
    """ip's ``conv2.0`` is the 1x1x1 conv, ir's the 3x3x3 depthwise one."""
    ip_state = builtin_csn(bottleneck_mode='ip', **ARCH).state_dict()
    path = save(ckpt_dir, 'ip.pth', dict(state_dict=ip_state))
    model = ResNet3dCSN(pretrained=path, bottleneck_mode='ir', **ARCH)
    with pytest.raises(ValueError, match=r'layer1\.0\.conv2\.0\.conv\.weight '
                       r'\(16, 16, 1, 1, 1\) vs \(16, 1, 3, 3, 3\)'):
        model.init_weights()


def test_ir_checkpoint_into_ip_model_names_missing_keys(builtin_state,
                                                        ckpt_dir):
    path = save(ckpt_dir, 'ir.pth', dict(state_dict=builtin_state))
    model = ResNet3dCSN(pretrained=path, bottleneck_mode='ip', **ARCH)
    with pytest.raises(KeyError, match=r'layer1\.0\.conv2\.1\.bn\.bias'):
        model.init_weights()


def test_init_cfg_pretrained(builtin_state, ckpt_dir):
    path = save(ckpt_dir, 'init_cfg.pth', dict(state_dict=builtin_state))
    model = ResNet3dCSN(
        init_cfg=dict(type='Pretrained', checkpoint=path), **ARCH)
    model.init_weights()
    assert_loaded(model, builtin_state)


def test_init_cfg_pretrained_with_prefix(builtin_state, ckpt_dir):
    path = save(ckpt_dir, 'init_cfg_recognizer.pth',
                recognizer_checkpoint(builtin_state))
    model = ResNet3dCSN(
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'),
        **ARCH)
    model.init_weights()
    assert_loaded(model, builtin_state)


def test_recognizer_init_weights_loads_backbone_pretrained(
        builtin_state, ckpt_dir):
    """The route of MMAction2's CSN configs: ``backbone.pretrained`` loaded
    when the runner calls the recognizer's ``init_weights``."""
    use_mmaction_scope()
    path = save(ckpt_dir, 'config_route.pth', dict(state_dict=builtin_state))
    model = MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=dict(
                type='ResNet3dCSN', pretrained2d=False, pretrained=path,
                **ARCH),
            cls_head={**I3D_HEAD, 'in_channels': 64 * 16 * 2}))
    model.init_weights()
    assert_loaded(model.backbone, builtin_state)


def test_init_from_scratch_zero_inits_residual_bn():
    model = ResNet3dCSN(depth=26, base_channels=8)
    model.init_weights()
    for i in range(1, 5):
        for block in getattr(model, f'layer{i}'):
            assert torch.all(block.conv3.bn.weight == 0)
            assert torch.all(block.conv1.bn.weight == 1)
            assert torch.all(block.conv2[-1].bn.weight == 1)
    assert torch.all(model.conv1.bn.weight == 1)
