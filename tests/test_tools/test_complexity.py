"""The complexity tool reproduces the published CSN figures and agrees with
mmengine's counter.

Published (Tran et al., ICCV 2019, Table 5; MMAction2's CSN model zoo): the
"GFLOPs" are multiply-adds of the conv layers of the full 152-layer networks
at 32x256x256; the params include a 400-class fc.
"""
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count

from csn_plugin.registry import MODELS
from csn_plugin.tools.complexity import (build_on_meta, complexity_of,
                                         count_complexity, known_archs,
                                         load_model_cfg)

K400_256 = (1, 3, 32, 256, 256)
K400_224 = (1, 3, 32, 224, 224)


@pytest.mark.parametrize('arch, shape, params_m, gmacs', [
    ('ircsn_r152', K400_256, 29.70, 96.7),
    ('ipcsn_r152', K400_256, 33.02, 108.8),
    ('ircsn_r152', K400_224, 29.70, 74.05),
    ('ipcsn_r152', K400_224, 33.02, 83.29),
])
def test_published_csn_152_figures(arch, shape, params_m, gmacs):
    result = complexity_of(arch, shape)
    digits = 1 if shape == K400_256 else 2
    assert round(result.params / 1e6, 2) == params_m
    # the published figures are conv multiply-adds; the fc (0.0008 GMACs)
    # does not change them at this precision, BN (+0.36 to +0.55) would
    assert round(result.conv_macs / 1e9, digits) == gmacs
    assert round(result.macs / 1e9, digits) == gmacs
    assert result.linear_macs == 2048 * 400


def test_published_ircsn_50_params():
    # MMAction2's model zoo: ir-CSN-50 (ig65m) 13.13M params
    assert round(complexity_of('ircsn_r50', K400_224).params / 1e6,
                 2) == 13.13


def test_per_stage_counts_sum_to_the_total():
    result = complexity_of('ircsn_r152', K400_224)
    assert list(result.stages) == [
        'backbone.conv1', 'backbone.layer1', 'backbone.layer2',
        'backbone.layer3', 'backbone.layer4', 'cls_head'
    ]
    assert sum(m for _, m in result.stages.values()) == result.macs
    # stem: 3x7x7 conv, 3 -> 64, on 32x112x112 outputs
    assert result.stages['backbone.conv1'][1] == (64 * 32 * 112 * 112) * (
        3 * 3 * 7 * 7)
    assert result.stages['cls_head'] == (2048 * 400 + 400, 2048 * 400)


def test_counts_a_bare_backbone_and_a_hand_computed_model():
    model = nn.Sequential(
        nn.Conv3d(3, 8, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        nn.BatchNorm3d(8),
        nn.Conv3d(8, 8, 3, padding=1, groups=4),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(8, 5)).to('meta')
    result = count_complexity(model, (2, 3, 4, 16, 16))
    conv1 = 2 * 8 * 4 * 8 * 8 * 3 * 9
    conv2 = 2 * 8 * 4 * 8 * 8 * 2 * 27
    assert result.conv_macs == conv1 + conv2
    assert result.linear_macs == 2 * 5 * 8
    assert result.stages['1'] == (16, 0)  # BN: params, no MACs
    assert result.params == sum(p.numel() for p in model.parameters())


def test_agrees_with_mmengine_flop_analyzer():
    """mmengine counts the same conv and linear MACs; its total adds BN as
    2 FLOPs an element (eval mode, affine), which is why MMAction2's model
    zoo lists 97.63G / 109.9G for ir-/ip-CSN-152 instead of 96.7 / 108.8."""
    torch.manual_seed(0)
    cfg = load_model_cfg('ircsn_r26')
    cfg.backbone.base_channels = 16
    # the default model: under the analyzer's tracer the fused eval path
    # steps aside, so BN is its own op, as in MMAction2's model
    model = MODELS.build(cfg.backbone).eval()
    x = torch.randn(1, 3, 8, 64, 64)

    ours = count_complexity(build_on_meta(cfg.backbone), x.shape)
    analyzer = FlopAnalyzer(model, (x, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    mmengine_total = analyzer.total()

    bn_elements = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: bn_elements.append(o.numel()))
        for m in model.modules() if isinstance(m, nn.BatchNorm3d)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    assert analyzer.by_operator() == {
        'conv': ours.conv_macs,
        'batch_norm': 2 * sum(bn_elements)
    }
    assert mmengine_total == ours.macs + 2 * sum(bn_elements)
    assert parameter_count(model)[''] == ours.params


def test_unknown_target_names_the_known_archs():
    with pytest.raises(ValueError, match='neither a config file, a known '
                       'arch nor a registered model.*ircsn_r152'):
        complexity_of('ircsn_r99', K400_224)


def test_registered_backbone_with_its_defaults():
    by_type = complexity_of('SEVNet', (1, 3, 16, 224, 224))
    assert list(by_type.stages) == ['stem', 'layer1', 'layer2', 'layer3',
                                    'layer4']
    # the 'sevnet' arch is the same backbone ('m') plus its head
    by_arch = complexity_of('sevnet', (1, 3, 16, 224, 224))
    assert by_arch.conv_macs == by_type.conv_macs
    assert by_arch.params - by_type.params == 512 * 400 + 400


def test_bad_shape_raises():
    with pytest.raises(ValueError, match=r'shape must be \(N, C, T, H, W\)'):
        complexity_of('ircsn_r50', (1, 3, 224, 224))


def test_known_archs_cover_the_design_space_and_sevnet():
    archs = known_archs()
    for family in ('r3d', 'gccsn', 'ipcsn', 'ircsn'):
        assert [a for a in archs if a.startswith(family + '_')] == [
            f'{family}_r{d}' for d in (18, 34, 26, 50, 101, 152)
        ]
    assert archs[-3:] == ['sevnet_s', 'sevnet', 'sevnet_l']


def run_tool(*args):
    proc = subprocess.run(
        [sys.executable, '-m', 'csn_plugin.tools.complexity', *args],
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_report(repo_root):
    out = run_tool('ircsn_r152', '--shape', '1', '3', '32', '256', '256')
    lines = out.splitlines()
    assert 'ircsn_r152: input 1x3x32x256x256' in lines
    total = next(line for line in lines if line.startswith('total'))
    assert total.split()[1:] == ['29.70', '96.71']
    assert any(line.startswith('backbone.layer3') for line in lines)
    # a config file works as well as an arch name
    out = run_tool(f'{repo_root}/configs/_base_/models/ipcsn_r152.py')
    total = next(line for line in out.splitlines() if line.startswith('total'))
    assert total.split()[1:] == ['33.02', '83.29']


def test_cli_table_matches_the_docs(repo_root):
    """docs/complexity.md holds the output of the documented command."""
    table = run_tool('--table', '--shape', '1', '3', '32', '224', '224',
                     '--shape', '1', '3', '32', '256', '256')
    rows = table_rows(table)
    assert len(rows) == 2 + len(known_archs())
    assert '| ircsn_r152 | ResNet3dCSN, depth 152, ir | 29.70 | 74.05 | ' \
        '96.71 |' in rows
    with open(f'{repo_root}/docs/complexity.md') as f:
        assert '\n'.join(rows) in f.read()


def test_cli_sevnet_table_matches_the_docs(repo_root):
    table = run_tool('--table', 'sevnet*', '--shape', '1', '3', '16', '224',
                     '224')
    rows = table_rows(table)
    assert [row.split(' | ')[0] for row in rows[2:]] == [
        '| sevnet_s', '| sevnet', '| sevnet_l'
    ]
    with open(f'{repo_root}/docs/complexity.md') as f:
        assert '\n'.join(rows) in f.read()


def table_rows(output):
    # the markdown table, without log lines printed while importing
    return [line for line in output.splitlines() if line.startswith('|')]


def test_cli_rejects_a_missing_target():
    proc = subprocess.run(
        [sys.executable, '-m', 'csn_plugin.tools.complexity'],
        capture_output=True,
        text=True)
    assert proc.returncode == 2
    assert 'give a config file or an arch name, or --table' in proc.stderr


def test_cli_reports_a_model_it_cannot_build():
    proc = subprocess.run(
        [sys.executable, '-m', 'csn_plugin.tools.complexity',
         'FactorizedResNet3d'],
        capture_output=True,
        text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: FactorizedResNet3d: FactorizedResNet3d.__init__() missing 1 "
        "required positional argument: 'depth'")
