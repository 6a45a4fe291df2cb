"""The Triton depthwise 3D conv kernels and their router, on the CPU under
Triton's interpreter (``TRITON_INTERPRET=1``, set by tests/conftest.py),
against ``F.conv3d``: forward values and the gradients of input,
weight, bias and residual, for every stride CSN's configs use, dilation 1
and 2, with and without ReLU and residual, NCDHW and NDHWC, fp32 (tight),
bf16 and fp16 (loose). Triton is imported by the kernels' first use, not
when this file is collected."""
import logging
import os

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('triton', reason="the 'tests' extra installs triton")

from csn_plugin.models.acceleration import (  # noqa: E402
    depthwise_route, disabled, triton_depthwise)
from csn_plugin.models.acceleration.depthwise_route import (  # noqa: E402
    DepthwiseRouter, depthwise_conv3d_routed, forced, forced_paths)
from csn_plugin.models.acceleration.triton_depthwise import (  # noqa: E402
    depthwise_conv3d)

STRIDES = [(1, 1, 1), (2, 2, 2), (1, 2, 2), (2, 1, 1)]


@pytest.fixture(autouse=True)
def interpret(monkeypatch):
    """Triton's interpreter for CPU tensors (tests/conftest.py set
    ``TRITON_INTERPRET=1`` before Triton's import), and no forced or
    disabled path from the caller's environment."""
    assert os.environ.get('TRITON_INTERPRET') == '1', (
        'TRITON_INTERPRET=1 is not set: tests/conftest.py sets it')
    monkeypatch.delenv('CSN_PLUGIN_FORCE', raising=False)
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', 'compile')


def _inputs(dtype, channels_last, stride, dilation, residual, c=20,
            size=(5, 7, 9), seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, *size, generator=gen).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    weight = torch.randn(c, 1, 3, 3, 3, generator=gen).to(dtype)
    bias = torch.randn(c, generator=gen).to(dtype)
    out = [(s + 2 * dilation - 2 * dilation - 1) // st + 1
           for s, st in zip(size, stride)]
    res = (torch.randn(2, c, *out, generator=gen).to(dtype)
           if residual else None)
    return x, weight, bias, res


def _reference(x, weight, bias, res, stride, dilation, relu):
    """``F.conv3d`` + residual + ReLU (in fp64 in the tests)."""
    out = F.conv3d(x, weight, bias, stride, dilation, dilation, x.shape[1])
    if res is not None:
        out = out + res
    return out.relu() if relu else out


def _leaves(*tensors):
    return [None if t is None else t.detach().clone().requires_grad_()
            for t in tensors]


def _check(dtype, channels_last, stride, dilation, relu, residual, rtol,
           atol, **shape):
    x, weight, bias, res = _inputs(dtype, channels_last, stride, dilation,
                                   residual, **shape)
    mine = _leaves(x, weight, bias, res)
    ref = _leaves(*(None if t is None else t.double()
                    for t in (x, weight, bias, res)))
    y = depthwise_conv3d(mine[0], mine[1], mine[2], stride, dilation,
                         dilation, relu=relu, residual=mine[3])
    want = _reference(*ref, stride, dilation, relu)
    assert y.dtype == dtype and y.shape == want.shape
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    assert y.is_contiguous(memory_format=fmt)
    torch.testing.assert_close(y.double(), want, rtol=rtol, atol=atol)
    if relu:  # the ReLU did cut, and gradients pass only where y > 0
        assert 0 < (y == 0).sum() < y.numel()
    grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    y.backward(grad.to(dtype))
    want.backward(grad.to(dtype).double())
    for got, exp, name in zip(mine, ref, ('x', 'weight', 'bias', 'res')):
        if got is None:
            continue
        assert got.grad.dtype == dtype, name
        scale = exp.grad.abs().max().item()
        torch.testing.assert_close(
            got.grad.double(), exp.grad, rtol=rtol, atol=atol * max(1, scale),
            msg=lambda m, name=name: f'grad of {name}: {m}')
    if channels_last:
        assert mine[0].grad.is_contiguous(
            memory_format=torch.channels_last_3d)


# every stride with dilation 1 and 2, in both layouts; ReLU and residual
# in all four combinations, each combination met by both layouts
FP32_CASES = [(stride, dilation, channels_last,
               bool((i + channels_last) % 2), bool((i // 2 + channels_last) %
                                                   2))
              for i, (stride, dilation) in enumerate(
                  (s, d) for s in STRIDES for d in (1, 2))
              for channels_last in (False, True)]


def _case_id(case):
    stride, dilation, channels_last, relu, residual = case
    return (f"s{''.join(map(str, stride))}-d{dilation}-"
            f"{'ndhwc' if channels_last else 'ncdhw'}"
            f"{'-relu' if relu else ''}{'-res' if residual else ''}")


@pytest.mark.parametrize('stride,dilation,channels_last,relu,residual',
                         FP32_CASES, ids=map(_case_id, FP32_CASES))
def test_fp32_matches_conv3d(stride, dilation, channels_last, relu,
                             residual):
    """fp32 accumulates in fp32: within 1e-5 of fp64 (relative to the
    largest gradient for the sums over a batch)."""
    _check(torch.float32, channels_last, stride, dilation, relu, residual,
           rtol=1e-5, atol=1e-5)


def test_fp32_cases_cover_the_grid():
    combos = {(s, d, cl) for s, d, cl, _, _ in FP32_CASES}
    assert len(combos) == len(STRIDES) * 2 * 2
    for cl in (False, True):
        assert {(r, res) for s, d, c, r, res in FP32_CASES if c == cl} == {
            (False, False), (False, True), (True, False), (True, True)}


def test_many_tiles(monkeypatch):
    """Tiles smaller than the tensor: two spatial and two channel tiles,
    the last ones partly masked (12 channels in tiles of 8)."""
    monkeypatch.setitem(triton_depthwise.INTERPRET_BLOCKS, 'BLOCK_S', 128)
    monkeypatch.setitem(triton_depthwise.INTERPRET_BLOCKS, 'BLOCK_C', 8)
    _check(torch.float32, True, (1, 1, 1), 2, True, True, rtol=1e-5,
           atol=1e-5, c=12, size=(3, 6, 10))


@pytest.mark.parametrize('dtype,tol', [(torch.bfloat16, 2**-6),
                                       (torch.float16, 2**-9)],
                         ids=['bf16', 'fp16'])
@pytest.mark.parametrize('stride,channels_last', [((1, 1, 1), True),
                                                  ((2, 2, 2), False)],
                         ids=['s111-ndhwc', 's222-ncdhw'])
def test_half_precision_matches_conv3d(dtype, tol, stride, channels_last):
    """bf16 and fp16 inputs, fp32 sums, one rounding at the end: within a
    few units of the last place (bf16 2**-6, fp16 2**-9, relative, and as
    much absolute per unit of the largest value) of fp64 on the same
    inputs."""
    _check(dtype, channels_last, stride, 1, True, True, rtol=tol,
           atol=tol * 8)


def test_fp64_gradcheck():
    """The backward kernels are the derivative of the forward one
    (finite differences; fp64 in and out, fp32 sums, so a coarse step)."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 3, 3, 4, 5, generator=gen, dtype=torch.float64,
                    requires_grad=True)
    weight = torch.randn(3, 1, 3, 3, 3, generator=gen, dtype=torch.float64,
                         requires_grad=True)
    bias = torch.randn(3, generator=gen, dtype=torch.float64,
                       requires_grad=True)
    res = torch.randn(1, 3, 2, 4, 3, generator=gen, dtype=torch.float64,
                      requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *a: depthwise_conv3d(*a[:3], (2, 1, 2), (1, 2, 1), (1, 2, 1),
                                    residual=a[3]),
        (x, weight, bias, res), eps=1e-2, atol=1e-3, rtol=1e-3,
        fast_mode=True)


def test_expanded_gradient_and_no_bias():
    """A ``sum()``'s gradient is an expanded (stride 0) tensor; without a
    bias there is no bias gradient to make."""
    x, weight, _, _ = _inputs(torch.float32, False, (1, 1, 1), 1, False)
    mine, ref = _leaves(x, weight), _leaves(x, weight)
    depthwise_conv3d(*mine, relu=True).sum().backward()
    F.relu(F.conv3d(*ref, None, 1, 1, 1, 20)).sum().backward()
    for got, exp in zip(mine, ref):
        torch.testing.assert_close(got.grad, exp.grad, rtol=1e-5, atol=1e-4)


def test_bad_input_is_named():
    x = torch.randn(1, 4, 3, 4, 4)
    with pytest.raises(ValueError, match='not depthwise with channel '
                       'multiplier 1'):
        depthwise_conv3d(x, torch.randn(8, 1, 3, 3, 3))
    with pytest.raises(ValueError, match=r'kernel \(3, 2, 3\) is not odd'):
        depthwise_conv3d(x, torch.randn(4, 1, 3, 2, 3))
    with pytest.raises(ValueError, match=r'residual \(1, 4, 3, 3, 3\) does '
                       'not match'):
        depthwise_conv3d(x, torch.randn(4, 1, 3, 3, 3),
                         residual=torch.randn(1, 4, 3, 3, 3))
    with pytest.raises(ValueError, match='stride must be an int or three'):
        depthwise_conv3d(x, torch.randn(4, 1, 3, 3, 3), stride=(1, 2))


def test_cpu_without_interpreter_and_without_triton(monkeypatch):
    x, weight = torch.randn(1, 4, 3, 4, 4), torch.randn(4, 1, 3, 3, 3)
    monkeypatch.setenv('TRITON_INTERPRET', '0')
    with pytest.raises(RuntimeError, match='TRITON_INTERPRET=1'):
        depthwise_conv3d(x, weight)
    monkeypatch.setattr(triton_depthwise, 'triton', None)
    monkeypatch.setitem(__import__('sys').modules, 'triton', None)
    with pytest.raises(RuntimeError, match=r"install the 'gpu' extra"):
        depthwise_conv3d(x, weight)


# ---------------------------------------------------------------------------
# The router
# ---------------------------------------------------------------------------


class _Timer:
    """Reports fixed times per route without running anything."""

    def __init__(self, ms):
        self.ms = ms
        self.calls = []

    def __call__(self, route, fn):
        assert callable(fn)
        self.calls.append(route)
        return self.ms[route]


@pytest.fixture
def info_lines():
    from mmengine.logging import MMLogger
    lines = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


CONV = dict(stride=1, padding=1, dilation=1, groups=8)


def _small(c=8, channels_last=False):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, c, 3, 5, 5, generator=gen)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return (x, torch.randn(c, 1, 3, 3, 3, generator=gen),
            torch.randn(c, generator=gen))


def test_router_measures_once_per_key_and_logs(info_lines):
    timer = _Timer({'triton': 1.5, 'cudnn': 3.0})
    router = DepthwiseRouter(timer, measure_on=('cpu', ))
    x, weight, bias = _small()
    args = (1, 1, 1, 8)
    assert router.route(x, weight, bias, *args, relu=True) == 'triton'
    assert timer.calls == ['triton', 'cudnn']
    assert router.route(x, weight, bias, *args, relu=True) == 'triton'
    assert timer.calls == ['triton', 'cudnn']  # cached
    assert len(info_lines) == 1
    line = info_lines[0]
    assert 'Triton 1.500 ms, cuDNN 3.000 ms; runs Triton' in line
    assert '(1, 8, 3, 5, 5) float32 NCDHW' in line and '+ReLU' in line
    # another key: the layout, the flags, gradients
    timer.ms = {'triton': 4.0, 'cudnn': 2.0}
    cl = x.contiguous(memory_format=torch.channels_last_3d)
    assert router.route(cl, weight, bias, *args, relu=True) == 'cudnn'
    assert router.route(x, weight, bias, *args, relu=False) == 'cudnn'
    assert router.route(x.requires_grad_(), weight, bias, *args,
                        relu=True) == 'cudnn'
    assert len(timer.calls) == 8 and len(info_lines) == 4
    assert 'runs cuDNN' in info_lines[1] and 'NDHWC' in info_lines[1]
    assert 'with gradients' in info_lines[3]
    assert len(router.choices) == 4


def test_measuring_runs_both_routes_on_copies():
    """What the timer gets runs a route forward and backward (with
    gradients) on copies: the caller's tensors get no gradient."""
    ran = []

    def timer(route, fn):
        fn()
        ran.append(route)
        return {'triton': 1.0, 'cudnn': 2.0}[route]

    router = DepthwiseRouter(timer, measure_on=('cpu', ))
    x, weight, bias = _small()
    x.requires_grad_()
    res = torch.randn(1, 8, 3, 5, 5, requires_grad=True)
    assert router.route(x, weight, bias, 1, 1, 1, 8, relu=True,
                        residual=res) == 'triton'
    assert ran == ['triton', 'cudnn']
    assert x.grad is None and res.grad is None


def test_router_defaults_and_switches(monkeypatch):
    """On the CPU cuDNN's route runs unless forced; a disabled path is never
    forced; what the kernel cannot compute is never routed to it."""
    timer = _Timer({'triton': 1.0, 'cudnn': 2.0})
    router = DepthwiseRouter(timer)  # measures on CUDA only
    x, weight, bias = _small()
    args = (x, weight, bias, 1, 1, 1, 8)
    assert router.route(*args) == 'cudnn' and not timer.calls
    with forced('triton'):
        assert forced_paths() == {'triton'}
        assert router.route(*args) == 'triton'
        with disabled('triton'):
            assert router.route(*args) == 'cudnn'
        dense = torch.randn(8, 8, 3, 3, 3)
        assert router.route(x, dense, bias, 1, 1, 1, 1) == 'cudnn'
        assert router.route(x.double(), weight.double(), None, 1, 1, 1,
                            8) == 'cudnn'
        assert router.route(*args, residual=torch.randn(
            1, 8, 3, 5, 5, dtype=torch.bfloat16)) == 'cudnn'
    assert forced_paths() == set()
    monkeypatch.setenv('CSN_PLUGIN_FORCE', 'triton')
    assert router.route(*args) == 'triton'
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', 'triton')
    assert router.route(*args) == 'cudnn'
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', 'compile')
    monkeypatch.setenv('CSN_PLUGIN_FORCE', 'cuda')
    with pytest.raises(ValueError, match=r"unknown path\(s\) to force "
                       r"\['cuda'\]; choose from \['triton'\]"):
        router.route(*args)
    assert not timer.calls


@pytest.mark.parametrize('channels_last', [False, True])
def test_routed_function_same_values_either_route(channels_last):
    """Both routes compute the same values and gradients, whichever the
    timer makes win; a module's parameters come from the conv itself."""
    conv = torch.nn.Conv3d(8, 8, 3, (1, 2, 2), 1, 1, groups=8)
    x, _, _ = _small(channels_last=channels_last)
    res = torch.randn(1, 8, 3, 3, 3)
    results = {}
    for winner in ('triton', 'cudnn'):
        timer = _Timer({winner: 1.0, ({'triton', 'cudnn'} - {winner}).pop():
                        2.0})
        router = DepthwiseRouter(timer, measure_on=('cpu', ))
        xi, ri = _leaves(x, res)
        conv.zero_grad()
        y = depthwise_conv3d_routed(xi, conv.weight, conv.bias, conv,
                                    relu=True, residual=ri, router=router)
        assert [c[0] for c in router.choices.values()] == [winner]
        y.backward(torch.ones_like(y))
        results[winner] = (y.detach(), xi.grad, ri.grad,
                           conv.weight.grad.clone(), conv.bias.grad.clone())
    for got, want in zip(results['triton'], results['cudnn']):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_forced_module_path_and_mapping_params():
    """``CSN_PLUGIN_FORCE=triton``'s context manager twin runs a conv unit
    through the kernel under the interpreter; a mapping gives the
    parameters too; a grouped (not depthwise) conv takes cuDNN's route."""
    x, weight, bias = _small()
    want = F.relu(F.conv3d(x, weight, bias, 2, 2, 2, 8))
    with forced('triton'):
        got = depthwise_conv3d_routed(
            x, weight, bias, dict(stride=2, padding=2, dilation=2, groups=8),
            relu=True)
        grouped = torch.randn(8, 2, 3, 3, 3)
        dense = depthwise_conv3d_routed(x, grouped, None, dict(
            stride=1, padding=1, dilation=1, groups=4))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dense, F.conv3d(x, grouped, None, 1, 1, 1, 4))
    reflect = torch.nn.Conv3d(8, 8, 3, padding=1, groups=8,
                              padding_mode='reflect')
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        depthwise_conv3d_routed(x, reflect.weight, reflect.bias, reflect)


def test_kernel_module_is_light():
    """The kernel module imports Triton when a kernel first runs, not when
    it is imported (loaded alone, without csn_plugin, to keep this quick)."""
    import subprocess
    import sys
    code = ('import importlib.util, sys; '
            'spec = importlib.util.spec_from_file_location("td", sys.argv[1]);'
            ' td = importlib.util.module_from_spec(spec); '
            'spec.loader.exec_module(td); '
            "print('triton' in sys.modules, td.available())")
    out = subprocess.run(
        [sys.executable, '-P', '-c', code, triton_depthwise.__file__],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-2:] == ['False', 'True']
    assert depthwise_route.ROUTER.measure_on == ('cuda', )
