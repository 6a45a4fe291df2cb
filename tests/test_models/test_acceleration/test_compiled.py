"""CompiledInference: a deployed backbone through torch.compile, stepping
aside for hooks, gradients and failures. One small model (one block a
stage) is compiled once for the module: compiling takes seconds a block on
2 cores."""
import pytest
import torch
from csn_reference import max_relative_error, randomize_bn

from csn_plugin.models import ResNet3dCSN
from csn_plugin.models.acceleration import (CompiledInference, compiled,
                                            disabled)

CLIP = (1, 3, 8, 32, 32)


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    backbone = ResNet3dCSN(26, base_channels=8, with_pool2=False,
                           stage_blocks=(1, 1, 1, 1))
    backbone.init_weights()
    randomize_bn(backbone, shift=.2)
    backbone.eval()
    x = torch.randn(CLIP)
    with torch.no_grad(), disabled('fused'):
        expected = backbone(x)
    backbone.switch_to_deploy()
    return backbone, x, expected


@pytest.fixture(scope='module')
def wrapper(model):
    backbone, _, _ = model
    return CompiledInference(backbone)


def test_compiles_once_per_shape_and_matches(model, wrapper, logged,
                                             compile_enabled, monkeypatch):
    _, x, expected = model
    calls = []
    compiled_fn = wrapper._compiled
    monkeypatch.setitem(wrapper.__dict__, '_compiled',
                        lambda x: calls.append(1) or compiled_fn(x))
    with torch.no_grad():
        first = wrapper(x)
        second = wrapper(x)
    assert calls == [1, 1]
    assert max_relative_error(first, expected) < 1e-5
    assert torch.equal(first, second)
    compile_lines = [m for m in logged if 'torch.compile' in m]
    assert len(compile_lines) == 1 and (
        'for 1x3x8x32x32 float32 input on cpu in ') in compile_lines[0]
    [(key, seconds)] = wrapper.compile_seconds.items()
    assert key == ((1, 3, 8, 32, 32), torch.float32, 'cpu', None)
    assert f'{seconds:.1f} s' in compile_lines[0] and seconds > 0
    assert f'1 input(s) compiled in {seconds:.1f} s' in repr(wrapper)
    assert wrapper._failure is None  # one graph (fullgraph=True)


@pytest.mark.parametrize('deploy', [False, True])
@pytest.mark.parametrize('arch', ['csn', 'sevnet'])
def test_one_graph_without_breaks(arch, deploy):
    """dynamo traces each backbone, deployed or not, under bf16 autocast
    too, as one graph: the fast paths' checks step aside before anything
    it cannot trace."""
    import torch._dynamo
    from csn_plugin.models import SEVNet
    model = (ResNet3dCSN(26, base_channels=8, stage_blocks=(1, 1, 1, 1))
             if arch == 'csn' else SEVNet(arch='s', depths=(1, 1, 1, 1)))
    model.eval()
    if deploy:
        model.switch_to_deploy()
    x = torch.randn(CLIP)
    with torch.no_grad():
        for bf16 in (False, True):
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                explained = torch._dynamo.explain(model)(x)
            assert explained.graph_count == 1
            assert explained.graph_break_count == 0, explained.break_reasons


@pytest.mark.parametrize('why', ['hook', 'grad', 'disabled', 'global hook'])
def test_steps_aside(model, wrapper, compile_enabled, monkeypatch, why):
    backbone, x, expected = model
    monkeypatch.setitem(wrapper.__dict__, '_compiled',
                        lambda x: pytest.fail('the compiled code ran'))
    fired = []
    hook = lambda module, args, out: fired.append(1)  # noqa: E731
    if why == 'hook':
        handle = backbone.layer2[0].last.register_forward_hook(hook)
    elif why == 'global hook':
        handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        if why == 'grad':
            out = wrapper(x)
        elif why == 'disabled':
            with torch.no_grad(), disabled('compile'):
                out = wrapper(x)
        else:
            with torch.no_grad():
                out = wrapper(x)
    finally:
        if why in ('hook', 'global hook'):
            handle.remove()
    assert max_relative_error(out.detach(), expected) < 1e-5
    if 'hook' in why:
        assert fired


def test_a_failed_compile_falls_back_and_says_so(model, logged,
                                                 compile_enabled):
    backbone, x, expected = model
    wrapper = CompiledInference(backbone)

    def broken(x):
        raise RuntimeError('no C++ compiler found')

    wrapper.__dict__['_compiled'] = broken
    with torch.no_grad():
        out = wrapper(x)
        wrapper(x)
    assert max_relative_error(out, expected) < 1e-5
    failures = [m for m in logged if 'failed' in m]
    assert len(failures) == 1 and 'no C++ compiler found' in failures[0]
    assert 'failed: RuntimeError' in repr(wrapper)


def test_not_a_submodule_twice(wrapper):
    """The compiled function shares the module's parameters; the wrapper's
    state dict and parameters are the module's, once."""
    names = [n for n, _ in wrapper.named_parameters()]
    assert names and all(n.startswith('module.') for n in names)
    assert len(names) == len(list(wrapper.module.parameters()))
    assert compiled.CompiledInference is CompiledInference


def test_compiles_on_cpu_and_cuda_only(model, wrapper, compile_enabled):
    """The device decision, on stand-ins for input tensors (no GPU needed):
    CPU and CUDA inputs compile, others run the module as it is; CPU bf16
    without native bf16 steps aside on the CPU only."""
    from types import SimpleNamespace
    on = {dev: SimpleNamespace(device=torch.device(dev))
          for dev in ('cpu', 'cuda', 'meta')}
    with torch.no_grad():
        assert wrapper._can_compile(on['cpu'])
        assert wrapper._can_compile(on['cuda'])
        assert not wrapper._can_compile(on['meta'])
        with torch.autocast('cpu', dtype=torch.bfloat16), disabled('bf16'):
            assert not wrapper._can_compile(on['cpu'])
            assert wrapper._can_compile(on['cuda'])
            assert compiled._autocast_dtype('cpu') is torch.bfloat16
        assert compiled._autocast_dtype('cpu') is None
    assert not wrapper._can_compile(on['cuda'])  # gradients on
