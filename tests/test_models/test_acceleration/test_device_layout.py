"""memory_format='auto': channels_last_3d weights on the CPU, contiguous on
CUDA, chosen when a backbone is built and again whenever it moves; explicit
values are kept on every device. The CUDA decision is simulated (the device
the layout code sees is patched), and the meta device stands in for a real
move off the CPU."""
import pytest
import torch

from csn_plugin.models import ResNet3dCSN, SEVNet
from csn_plugin.models.acceleration import (auto_memory_format, layout,
                                            resolve_memory_format, support)
from csn_plugin.registry import MODELS

SMALL_CSN = dict(depth=26, base_channels=8, with_pool2=False)
BACKBONES = {
    'ResNet3dCSN': lambda **kw: ResNet3dCSN(**SMALL_CSN, **kw),
    'SEVNet': lambda **kw: SEVNet(arch='s', **kw),
}
CL3D = torch.channels_last_3d


@pytest.fixture
def logged(monkeypatch):
    lines = []
    monkeypatch.setattr(support, 'print_log',
                        lambda msg, **kwargs: lines.append(msg))
    monkeypatch.setattr(support, '_logged', set())
    return lines


def conv_weights(model):
    return [m.weight for m in model.modules()
            if isinstance(m, torch.nn.Conv3d)]


def all_in(model, memory_format):
    weights = conv_weights(model)
    # 1x1x1 weights are both layouts at once; the others tell them apart
    telling = [w for w in weights if w.shape[2:] != (1, 1, 1)]
    assert telling
    return all(w.is_contiguous(memory_format=memory_format) for w in telling)


@pytest.mark.parametrize('device, expected', [
    ('cpu', 'channels_last_3d'), ('cuda', 'contiguous'),
    (torch.device('cuda', 1), 'contiguous'), ('meta', 'contiguous')])
def test_auto_picks_by_device(device, expected):
    assert auto_memory_format(device) == expected
    assert resolve_memory_format('auto', device) == expected
    for explicit in ('channels_last_3d', 'contiguous'):
        assert resolve_memory_format(explicit, device) == explicit


def test_resolver_names_bad_values():
    with pytest.raises(ValueError, match="memory_format must be one of "
                       r"\['auto', 'channels_last_3d', 'contiguous'\].*NHWC"):
        resolve_memory_format('NHWC', 'cpu')


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_auto_is_the_default_channels_last_on_cpu(name, logged):
    model = BACKBONES[name]()
    assert model.memory_format == 'auto'
    assert model.active_memory_format == 'channels_last_3d'
    assert all_in(model, CL3D)
    assert f"memory_format='auto' (channels_last_3d on cpu)" in repr(model)
    assert logged == [f'csn_plugin: {name} weights in channels_last_3d '
                      "memory format for cpu (memory_format='auto')"]


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_simulated_cuda_move_flips_to_contiguous_and_back(
        name, logged, monkeypatch):
    """Every move ends in ``_apply``; what device the weights are on
    decides. With the device seen as CUDA the weights turn contiguous, the
    decision is logged and shown; back on the CPU, channels_last_3d."""
    model = BACKBONES[name]().eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        before = model(x)
    monkeypatch.setattr(layout, '_device_of',
                        lambda module: torch.device('cuda', 0))
    assert model.float() is model  # a cast is a move as far as _apply goes
    assert model.active_memory_format == 'contiguous'
    assert all_in(model, torch.contiguous_format)
    assert "memory_format='auto' (contiguous on cuda)" in repr(model)
    assert logged[-1] == (f'csn_plugin: {name} weights in contiguous memory '
                          "format for cuda (memory_format='auto')")
    monkeypatch.undo()
    model.cpu()
    assert model.active_memory_format == 'channels_last_3d'
    assert all_in(model, CL3D)
    with torch.no_grad():
        after = model(x)
    # the same values in another layout: the same outputs, up to rounding
    assert torch.allclose(after, before, rtol=1e-4, atol=1e-5)


def test_explicit_values_are_kept_on_every_device(monkeypatch, logged):
    fixed_cl = ResNet3dCSN(memory_format='channels_last_3d', **SMALL_CSN)
    fixed_contig = ResNet3dCSN(memory_format='contiguous', **SMALL_CSN)
    monkeypatch.setattr(layout, '_device_of',
                        lambda module: torch.device('cuda', 0))
    fixed_cl.float()
    fixed_contig.float()
    assert all_in(fixed_cl, CL3D)
    assert all_in(fixed_contig, torch.contiguous_format)
    assert repr(fixed_cl).splitlines()[1] == \
        "  memory_format='channels_last_3d'"
    assert not any('for cuda' in line for line in logged)


def test_real_move_to_another_device_flips_the_layout():
    """meta is a real device other than the CPU: ``.to('meta')`` goes
    through the same code as ``.to('cuda')``."""
    model = ResNet3dCSN(**SMALL_CSN)
    model.to('meta')
    assert model.conv1.conv.weight.device.type == 'meta'
    assert model.active_memory_format == 'contiguous'
    assert all_in(model, torch.contiguous_format)
    model.to_empty(device='cpu')
    assert model.active_memory_format == 'channels_last_3d'
    assert all_in(model, CL3D)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_built_under_a_default_device(name):
    with torch.device('meta'):
        model = BACKBONES[name]()
    assert model.active_memory_format == 'contiguous'
    assert all_in(model, torch.contiguous_format)


def test_moving_the_parent_reaches_the_backbone(monkeypatch):
    """mmengine's runner moves the whole recognizer; the backbone's
    ``_apply`` runs as part of it."""
    recognizer = torch.nn.ModuleDict(dict(
        backbone=ResNet3dCSN(**SMALL_CSN), cls_head=torch.nn.Linear(256, 3)))
    assert recognizer.backbone.active_memory_format == 'channels_last_3d'
    monkeypatch.setattr(layout, '_device_of',
                        lambda module: torch.device('cuda', 0))
    recognizer.float()
    assert recognizer.backbone.active_memory_format == 'contiguous'


def test_config_override():
    model = MODELS.build(dict(type='ResNet3dCSN', memory_format='contiguous',
                              **SMALL_CSN))
    assert model.active_memory_format == 'contiguous'
    assert all_in(model, torch.contiguous_format)
