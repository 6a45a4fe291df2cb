"""FastestRoute: mim test's route, the faster of the eager deployed backbone
and the compiled one, by a one-off measurement per input shape."""
import pytest
import torch

from csn_plugin.models import ResNet3dCSN
from csn_plugin.models.acceleration import FastestRoute, route

CLIP = (1, 3, 8, 32, 32)


@pytest.fixture
def deployed():
    torch.manual_seed(0)
    backbone = ResNet3dCSN(26, base_channels=8, with_pool2=False,
                           stage_blocks=(1, 1, 1, 1))
    backbone.init_weights()
    backbone.switch_to_deploy()
    return backbone


@pytest.mark.parametrize('faster', ['eager', 'compiled'])
def test_keeps_the_faster_route_and_says_so(deployed, faster, logged,
                                           compile_enabled, monkeypatch):
    """The compiled code is stood in for by the module itself (compiling
    takes tens of seconds); the clock is faked to make ``faster`` win."""
    wrapper = FastestRoute(deployed)
    calls = []
    monkeypatch.setitem(wrapper.compiled.__dict__, '_compiled',
                        lambda x: calls.append('compiled') or deployed(x))
    times = {'eager': 1.0, 'compiled': 2.0} if faster == 'eager' else {
        'eager': 2.0, 'compiled': 1.0}
    clock = iter([times['eager'], times['compiled']])  # the order timed
    monkeypatch.setattr(route, '_best_seconds',
                        lambda call, repeats: (call(), next(clock))[1])
    x = torch.randn(CLIP)
    with torch.no_grad():
        expected = deployed(x)
        first = wrapper(x)
        calls.clear()
        second = wrapper(x)
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(second, expected)
    key = (CLIP, torch.float32, False)
    assert wrapper.choice == {key: faster}
    assert calls == (['compiled'] if faster == 'compiled' else [])
    assert [m for m in logged if f'runs {faster}' in m and '1x3x8x32x32'
            in m]


def test_steps_aside_without_measuring(deployed, monkeypatch):
    """The suite disables compiling: the eager module runs, nothing is
    measured; likewise with gradients."""
    wrapper = FastestRoute(deployed)
    monkeypatch.setattr(route, '_best_seconds', pytest.fail)
    x = torch.randn(CLIP)
    with torch.no_grad():
        wrapper(x)
    wrapper(x)
    assert wrapper.choice == {}
