"""The channels_last_3d layout (on the weights) computes what the contiguous
layout computes: train mode, BN training or frozen, outputs and gradients."""
import pytest
import torch
from csn_reference import max_relative_error, randomize_bn

from csn_plugin.models import ResNet3dCSN

SMALL = dict(depth=26, base_channels=8, with_pool2=False)
CLIP = (2, 3, 8, 32, 32)


def pair(dtype=torch.float32, **kwargs):
    """A contiguous reference backbone and a copy with ``kwargs``, same
    weights."""
    torch.manual_seed(0)
    cfg = dict(SMALL, **kwargs.pop('cfg', {}))
    ref = ResNet3dCSN(memory_format='contiguous', **cfg)
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


@pytest.mark.parametrize('norm_eval', [False, True])
def test_train_outputs_and_gradients_match_float64(norm_eval):
    """Train mode, BN training or frozen (``norm_eval``): same outputs and
    same gradients."""
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


def test_bad_memory_format():
    with pytest.raises(ValueError, match='memory_format'):
        ResNet3dCSN(memory_format='channels_last', **SMALL)


def test_weights_keep_their_layout_through_loading_and_init():
    model = ResNet3dCSN(**SMALL)
    model.init_weights()
    model.load_state_dict(ResNet3dCSN(memory_format='contiguous',
                                      **SMALL).state_dict())
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last_3d)
               for m in convs)


@pytest.mark.parametrize('memory_format', ['channels_last_3d', 'contiguous'])
def test_every_weight_has_the_format_strides(memory_format):
    """1x1x1 and depthwise weights count as contiguous in both formats, so
    ``contiguous(memory_format=...)`` would keep whatever strides they had;
    the backbone gives every 5-D weight the format's own strides (what
    torch.compile's oneDNN convolutions read the layout from), also after
    loading a state dict and after switch_to_deploy()."""
    target = {'channels_last_3d': torch.channels_last_3d,
              'contiguous': torch.contiguous_format}[memory_format]
    ref, model = pair(memory_format=memory_format)

    def check(net):
        weights = [(n, p) for n, p in net.named_parameters() if p.dim() == 5]
        assert weights
        for name, weight in weights:
            want = torch.empty_like(weight, memory_format=target).stride()
            assert weight.stride() == want, name

    check(model)
    model.switch_to_deploy()
    check(model)
    # the ambiguous shapes this is about are there
    assert any(p.shape[2:] == (1, 1, 1) for p in model.parameters()
               if p.dim() == 5)
