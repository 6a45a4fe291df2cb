"""The Triton depthwise kernel wired into the modules that run a CSN: with
the ``triton`` path forced (what CUDA takes where the router measured the
kernel faster), training steps (BN training and BN frozen) and deployed
inference give what the plain route gives, and every depthwise conv of the
network went through the kernel. On the CPU under Triton's interpreter
(tests/conftest.py sets TRITON_INTERPRET=1)."""
import pytest
import torch

pytest.importorskip('triton', reason="the 'tests' extra installs triton")

from csn_plugin.models import ResNet3dCSN  # noqa: E402
from csn_plugin.models.acceleration import triton_depthwise  # noqa: E402
from csn_plugin.models.acceleration.depthwise_route import forced  # noqa

#: large enough that BN in training mode normalizes over 64 values a channel
#: at layer4 (over 2, float rounding differences would be magnified)
CLIP = (2, 3, 8, 32, 32)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts the calls of the Triton kernel's autograd function."""
    calls = []
    real = triton_depthwise.depthwise_conv3d

    def spy(x, weight, *args, **kwargs):
        calls.append(tuple(weight.shape))
        return real(x, weight, *args, **kwargs)

    monkeypatch.setattr(triton_depthwise, 'depthwise_conv3d', spy)
    monkeypatch.delenv('CSN_PLUGIN_FORCE', raising=False)
    return calls


def _net(mode, norm_eval=False, seed=0):
    torch.manual_seed(seed)
    net = ResNet3dCSN(26, bottleneck_mode=mode, base_channels=8,
                      with_pool2=False, temporal_strides=(1, 1, 1, 1),
                      norm_eval=norm_eval,
                      memory_format='contiguous')
    net.init_weights()
    for m in net.modules():  # BN statistics and scales away from 0 and 1
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    return net


def _depthwise_convs(net):
    return sum(1 for m in net.modules() if isinstance(m, torch.nn.Conv3d)
               and 1 < m.groups == m.in_channels == m.out_channels)


def _close(got, want, limit=1e-4):
    """Relative L2 distance within ``limit``: float32 sums in another order
    (the kernel's taps against oneDNN's) move single elements near zero by
    more than an element-wise tolerance allows, the whole tensor by about
    1e-6."""
    dist = ((got - want).norm() / want.norm().clamp_min(1e-12)).item()
    assert dist <= limit, dist


def _train_step(net, clip):
    net.train()
    net.zero_grad()
    out = net(clip)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out.detach(), {
        n: p.grad.clone() for n, p in net.named_parameters()
        if p.grad is not None}


@pytest.mark.parametrize('mode', ['ir', 'ip'])
@pytest.mark.parametrize('norm_eval', [False, True],
                         ids=['bn-training', 'bn-frozen'])
def test_train_step_through_the_kernel(mode, norm_eval, kernel_calls):
    clip = torch.randn(*CLIP, generator=torch.Generator().manual_seed(1))
    plain_out, plain_grads = _train_step(_net(mode, norm_eval), clip)
    assert not kernel_calls
    net = _net(mode, norm_eval)
    with forced('triton'):
        out, grads = _train_step(net, clip)
    assert len(kernel_calls) == _depthwise_convs(net) > 0
    _close(out, plain_out)
    assert grads.keys() == plain_grads.keys()
    for name, grad in grads.items():
        _close(grad, plain_grads[name])


@pytest.mark.parametrize('mode', ['ir', 'ip'])
def test_deployed_inference_through_the_kernel(mode, kernel_calls):
    clip = torch.randn(*CLIP, generator=torch.Generator().manual_seed(2))
    net = _net(mode).eval()
    with torch.no_grad():
        want = net(clip)
        net.switch_to_deploy()
        with forced('triton'):
            got = net(clip)
    assert len(kernel_calls) == _depthwise_convs(net) > 0
    _close(got, want)
