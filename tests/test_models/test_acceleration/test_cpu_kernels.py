"""The private oneDNN ops: checked once per (op, dtype, memory format)
against the public ops, and a failure at run time falls back with one
warning instead of raising into the user's run."""
import copy

import pytest
import torch
from cpu_flags import expect_native_bf16
from csn_reference import max_relative_error, randomize_bn

from csn_plugin.models import ResNet3dCSN
from csn_plugin.models.acceleration import bf16_autocast, cpu_kernels, support

# the private ops' own tests: on even where the caller switched them off
pytestmark = pytest.mark.usefixtures('fused_enabled')

SMALL = dict(depth=50, base_channels=4, with_pool2=False)
#: the condition of the crash: contiguous weights, bf16 autocast, a
#: residual add + ReLU in the last conv of each block
CRASH = "false INTERNAL ASSERT FAILED: Unsupported datatype for " \
        'add_relu:c10::BFloat16'


@pytest.fixture
def fresh_status(monkeypatch):
    """No decision of an earlier test carries over."""
    monkeypatch.setattr(cpu_kernels, '_status', {})
    monkeypatch.setattr(support, '_logged', set())


def deployed(memory_format):
    torch.manual_seed(0)
    model = ResNet3dCSN(memory_format=memory_format, **SMALL)
    model.init_weights()
    randomize_bn(model, shift=.2)
    model.eval()
    reference = copy.deepcopy(model)
    model.switch_to_deploy()
    return reference, model


def clip():
    return torch.randn(1, 3, 8, 32, 32,
                       generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize('memory_format', ['contiguous', 'channels_last_3d'])
def test_a_failing_private_op_falls_back_with_one_warning(
        memory_format, fresh_status, monkeypatch, capture_warnings):
    """The check is forced to believe the private ops work; the binary ones
    then raise as oneDNN did on Zen 4 (bf16, contiguous). The run goes on,
    on the public ops, with one warning per op, dtype and format."""
    warnings = capture_warnings()
    bf16 = expect_native_bf16()
    reference, model = deployed(memory_format)
    monkeypatch.setattr(cpu_kernels, '_check', lambda *args: True)
    private, calls = cpu_kernels._private, []

    def crashing(op, x, *args):
        calls.append((op, cpu_kernels._format_of(x)))
        if op != 'unary':
            raise RuntimeError(CRASH)
        return private(op, x, *args)

    monkeypatch.setattr(cpu_kernels, '_private', crashing)
    with torch.no_grad(), bf16_autocast('cpu'):
        expected = reference(clip()).float()
        first = model(clip()).float()
        second = model(clip()).float()
    dtype = str(torch.bfloat16 if bf16 else torch.float32)[6:]
    failing = [m for m in warnings if 'failed at run time' in m]
    # one warning per failing (op, format); a tensor whose layout is both
    # (1x1 feature maps) counts as contiguous
    failed = {(op, fmt) for op, fmt in calls if op != 'unary'}
    assert memory_format in {fmt for _, fmt in failed}
    assert sorted(failing) == sorted(
        f"csn_plugin: oneDNN's fused conv op ({op}, {dtype}, {fmt}) failed "
        f'at run time ({CRASH}); the public ops run instead from now on.'
        for op, fmt in failed)
    # each failed once, then never again
    assert len([c for c in calls if c[0] != 'unary']) == len(failed)
    assert ('unary', memory_format) in calls  # what works keeps running
    tolerance = 6e-2 if bf16 else 1e-4
    assert max_relative_error(first, expected) < tolerance
    assert torch.equal(first, second)


def test_the_real_ops_never_raise_into_the_run(fresh_status):
    """Every (op, dtype, format) this CPU offers, on the real private ops:
    deploy matches eval, whatever the check decided."""
    dtypes = [torch.float32] + ([torch.bfloat16]
                                if expect_native_bf16() else [])
    for memory_format in ('contiguous', 'channels_last_3d'):
        reference, model = deployed(memory_format)
        for dtype in dtypes:
            with torch.no_grad(), torch.autocast(
                    'cpu', dtype=torch.bfloat16,
                    enabled=dtype == torch.bfloat16):
                error = max_relative_error(
                    model(clip()).float(), reference(clip()).float())
            assert error < (6e-2 if dtype == torch.bfloat16 else 1e-4)
    assert set(cpu_kernels.private_ops_status()) >= {
        (op, torch.float32, fmt) for op in ('unary', 'binary_', 'binary')
        for fmt in ('contiguous', 'channels_last_3d')}


@pytest.mark.parametrize('op', cpu_kernels.OPS)
@pytest.mark.parametrize('memory_format', ['contiguous', 'channels_last_3d'])
def test_check_catches_a_wrong_result_and_a_raise(op, memory_format,
                                                  fresh_status, monkeypatch):
    if not cpu_kernels._check(op, torch.float32, memory_format):
        pytest.skip(f'{op} is not usable in this PyTorch build')  # noqa
    private = cpu_kernels._private
    monkeypatch.setattr(cpu_kernels, '_private',
                        lambda *a: private(*a) * 1.01)
    assert not cpu_kernels._check(op, torch.float32, memory_format)

    def raising(*args):
        raise RuntimeError(CRASH)

    monkeypatch.setattr(cpu_kernels, '_private', raising)
    assert not cpu_kernels.private_op_works(op, torch.float32,
                                            memory_format)


def test_disabled_fused_runs_only_public_ops(fresh_status, monkeypatch):
    monkeypatch.setenv('CSN_PLUGIN_DISABLE', 'fused,compile')
    reference, model = deployed('channels_last_3d')
    monkeypatch.setattr(cpu_kernels, '_private', pytest.fail)
    with torch.no_grad():
        error = max_relative_error(model(clip()), reference(clip()))
    assert error < 1e-4
    assert cpu_kernels.private_ops_status() == {}


def test_no_private_op_with_gradients_or_a_tracer(fresh_status, monkeypatch):
    _, model = deployed('channels_last_3d')
    monkeypatch.setattr(cpu_kernels, '_private', pytest.fail)
    x = clip().requires_grad_()
    model(x).sum().backward()
    assert x.grad is not None
    torch.jit.trace(model, clip(), check_trace=False)


def test_check_leaves_rng_device_and_autocast_alone(fresh_status):
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    with torch.device('meta'), torch.autocast('cpu', dtype=torch.bfloat16):
        cpu_kernels._check('binary', torch.float32, 'contiguous')
    assert torch.equal(torch.rand(3), expected)
