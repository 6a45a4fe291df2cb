"""The backbone's fast paths compute what the plain path computes.

channels_last_3d vs contiguous, BN folded on the fly (efficient_conv_bn_eval)
and in place (switch_to_deploy) vs plain BN, bf16 autocast vs fp32; in eval
and train mode, outputs and gradients. Exactness is checked in float64, where
only the logic (layouts, folding) can make a difference; float32 runs the
oneDNN kernels and is checked to its rounding.
"""
import pytest
import torch
from csn_reference import max_relative_error, randomize_bn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from csn_plugin.models import ResNet3dCSN
from csn_plugin.models.onednn_fusion import fusion_works

SMALL = dict(depth=26, base_channels=8, with_pool2=False)
CLIP = (2, 3, 8, 32, 32)


def pair(dtype=torch.float32, **kwargs):
    """A contiguous reference backbone and a copy with ``kwargs``, same
    weights."""
    torch.manual_seed(0)
    cfg = dict(SMALL, **kwargs.pop('cfg', {}))
    ref = ResNet3dCSN(memory_format='contiguous',
                      efficient_conv_bn_eval=False, **cfg)
    ref.init_weights()
    randomize_bn(ref, shift=.2)
    fast = ResNet3dCSN(**cfg, **kwargs)
    fast.load_state_dict(ref.state_dict())
    return ref.to(dtype), fast.to(dtype)


def clip(dtype=torch.float32, seed=1):
    return torch.randn(CLIP, generator=torch.Generator().manual_seed(seed),
                       dtype=dtype)


def train_step(model, x, projection):
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(x)
    (out * projection).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()
             if p.grad is not None}
    return out.detach(), grads


@pytest.mark.parametrize('bottleneck_mode', ['ir', 'ip'])
def test_defaults_are_the_fast_paths(bottleneck_mode):
    model = ResNet3dCSN(bottleneck_mode=bottleneck_mode, **SMALL)
    assert model.memory_format == 'channels_last_3d'
    convs = [m for m in model.modules() if isinstance(m, ConvModule)]
    assert convs and all(m.efficient_conv_bn_eval_forward is not None
                         for m in convs)


@pytest.mark.parametrize('dtype, tolerance', [(torch.float64, 1e-12),
                                              (torch.float32, 1e-5)])
@pytest.mark.parametrize('bottleneck_mode', ['ir', 'ip'])
def test_eval_fast_paths_match_plain_path(dtype, tolerance, bottleneck_mode):
    """float64: the logic (layouts, folding) is exact; float32: oneDNN's
    channels_last_3d and fused deploy kernels, within rounding."""
    ref, fast = pair(dtype, cfg=dict(bottleneck_mode=bottleneck_mode))
    x = clip(dtype)
    with torch.no_grad():
        expected = ref.eval()(x)
        got = fast.eval()(x)
        fast.switch_to_deploy()
        deployed = fast(x)
    assert max_relative_error(got, expected) < tolerance
    assert max_relative_error(deployed, expected) < tolerance


@pytest.mark.parametrize('norm_eval', [False, True])
def test_train_outputs_and_gradients_match_float64(norm_eval):
    """Train mode, BN training or frozen (``norm_eval``, where BN is folded
    on the fly while training): same outputs and same gradients."""
    cfg = dict(norm_eval=norm_eval)
    ref, fast = pair(torch.float64, cfg=cfg)
    x = clip(torch.float64)
    projection = torch.randn(2, 256, 1, 1, 1, dtype=torch.float64)
    out_ref, grads_ref = train_step(ref, x, projection)
    out_fast, grads_fast = train_step(fast, x, projection)
    assert max_relative_error(out_fast, out_ref) < 1e-12
    assert grads_ref.keys() == grads_fast.keys()
    for name, g in grads_ref.items():
        assert max_relative_error(grads_fast[name], g) < 1e-10, name
    if norm_eval:
        bn = fast.layer1[0].conv1.bn
        assert not bn.training and bn.weight.grad is not None


def test_train_forward_float32_and_backward_runs():
    ref, fast = pair()
    x = clip()
    projection = torch.randn(2, 256, 1, 1, 1)
    out_ref, grads_ref = train_step(ref, x, projection)
    out_fast, grads_fast = train_step(fast, x, projection)
    # Train-mode BN normalizes layer4 over 2 values a channel here, which
    # magnifies rounding; float64 above checks exactness.
    assert max_relative_error(out_fast, out_ref) < 1e-3
    assert grads_fast.keys() == grads_ref.keys()
    assert all(torch.isfinite(g).all() for g in grads_fast.values())


def test_output_is_contiguous_for_the_head():
    from mmaction.models.heads import I3DHead
    model = ResNet3dCSN(out_indices=(2, 3), **SMALL)
    x = clip().requires_grad_()
    outs = model(x)
    assert all(o.is_contiguous() for o in outs)
    head = I3DHead(num_classes=5, in_channels=256)
    head(outs[-1]).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_bf16_autocast_is_close_to_float32():
    ref, fast = pair()
    x = clip()
    fast.switch_to_deploy()
    with torch.no_grad():
        expected = ref.eval()(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got = fast(x)
    assert got.dtype == torch.bfloat16
    assert max_relative_error(got.float(), expected) < 3e-2


@pytest.mark.parametrize('memory_format', ['channels_last_3d', 'contiguous'])
def test_bf16_training_gradients_are_close_to_float32(memory_format):
    """Under CPU bf16 autocast (BF16OptimWrapper), BN frozen as in CSN
    fine-tuning: gradients within bf16 rounding (through 26 layers) of the
    fp32 ones; the last stage computes in bf16."""
    ref, fast = pair(memory_format=memory_format, cfg=dict(norm_eval=True))
    x = clip()  # 8 frames: layer3 gets 2, layer4 1
    projection = torch.randn(2, 256, 1, 1, 1)
    _, grads_ref = train_step(ref, x, projection)
    fast.train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = fast(x)
        loss = (out.float() * projection).sum()
    loss.backward()
    assert out.dtype == torch.bfloat16  # the last 1x1x1 conv ran in bf16
    for name, p in fast.named_parameters():
        g = grads_ref[name]
        err = ((p.grad - g).norm() / g.norm()).item()
        assert err < 0.25, name


def test_same_outputs_as_mmaction2_builtin():
    from mmaction.models.backbones.resnet3d_csn import \
        ResNet3dCSN as Builtin
    cfg = dict(base_channels=8, with_pool2=False, zero_init_residual=False)
    builtin = Builtin(50, None, **cfg)
    builtin.init_weights()
    randomize_bn(builtin, shift=.2)
    plugin = ResNet3dCSN(50, **cfg)
    plugin.load_state_dict(builtin.state_dict())
    x = clip()
    builtin.eval()  # its train() returns None
    with torch.no_grad():
        expected = builtin(x)
        plugin.switch_to_deploy()
        got = plugin(x)
    assert max_relative_error(got, expected) < 1e-5


def test_deployed_backbone_refuses_training_and_checkpoints():
    model = ResNet3dCSN(**SMALL)
    state = model.state_dict()
    model.switch_to_deploy()
    assert model.deploy and not model.training
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    model.switch_to_deploy()  # a no-op the second time
    model.eval()
    with pytest.raises(RuntimeError, match='switch_to_deploy'):
        model.train()
    with pytest.raises(RuntimeError, match='state dict'):
        model.state_dict()
    with pytest.raises(RuntimeError, match='load a state dict'):
        model.load_state_dict(state)


def test_deploy_keeps_the_checkpoint_layout_until_switched():
    model = ResNet3dCSN(**SMALL)
    keys = set(model.state_dict())
    model.eval()
    with torch.no_grad():
        model(clip())
    assert set(model.state_dict()) == keys
    assert any(k.endswith('bn.running_var') for k in keys)
    assert not any(k.endswith('conv.bias') for k in keys)


def test_bad_memory_format():
    with pytest.raises(ValueError, match='memory_format'):
        ResNet3dCSN(memory_format='channels_last', **SMALL)


def test_efficient_conv_bn_eval_can_be_turned_off():
    model = ResNet3dCSN(efficient_conv_bn_eval=False, **SMALL)
    assert all(m.efficient_conv_bn_eval_forward is None
               for m in model.modules() if isinstance(m, ConvModule))


def test_onednn_fusion_matches_eager_deployed_backbone():
    torch.manual_seed(0)
    model = ResNet3dCSN(out_indices=(0, 1, 2, 3),
                        **dict(SMALL, bottleneck_mode='ip'))
    model.init_weights()
    randomize_bn(model, shift=.2)
    model.switch_to_deploy()
    # x86 builds of PyTorch carry oneDNN, so the fused path must be on
    assert model.onednn_fusion == torch.backends.mkldnn.is_available()
    x = clip()
    x_before = x.clone()
    with torch.no_grad():
        fused = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            fused_bf16 = model(x)
        model.onednn_fusion = False
        eager = model(x)
    assert torch.equal(x, x_before)  # the input is never written into
    for a, b, c in zip(eager, fused, fused_bf16):
        assert max_relative_error(b, a) < 1e-5  # every stage output, none overwritten
        assert c.dtype == torch.bfloat16 and max_relative_error(c.float(), a) < 3e-2
    # with gradients enabled the deployed backbone runs its modules
    model.onednn_fusion = True
    assert model(x)[-1].requires_grad


def test_eval_takes_the_fused_path_without_folding_in_place():
    """Validation and testing without deploy: BN folded per call into the
    fused kernels; the modules and state dict stay as they are."""
    torch.manual_seed(0)
    model = ResNet3dCSN(**SMALL)
    model.init_weights()
    randomize_bn(model, shift=.2)
    keys = list(model.state_dict())
    assert model.onednn_fusion == torch.backends.mkldnn.is_available()
    x = clip()
    model.eval()
    with torch.no_grad():
        fused = model(x)
        model.onednn_fusion = False
        eager = model(x)
    assert max_relative_error(fused, eager) < 1e-5
    assert list(model.state_dict()) == keys and not model.deploy
    # BN in train mode keeps the modules, gradients or not
    model.onednn_fusion = True
    model.train()
    with torch.no_grad():
        out = model(x)
    assert model.layer1[0].conv1.bn.num_batches_tracked > 0
    assert torch.isfinite(out).all()


def test_fusion_check_is_not_fooled_by_a_meta_build():
    """Building a backbone on the meta device first (as the complexity tool
    does) must not turn the fused path off for later CPU backbones: the
    one-off check runs on the CPU whatever the default device."""
    fusion_works.cache_clear()
    try:
        with torch.device('meta'):
            ResNet3dCSN(**SMALL)
        model = ResNet3dCSN(**SMALL)
        assert model.onednn_fusion == torch.backends.mkldnn.is_available()
    finally:
        fusion_works.cache_clear()
