"""``benchmarks/csn_speed.py --gpu-table --small``: the GPU table's code
(benchmarks/speed/gpu.py) run on tiny shapes on the CPU. Its rows, ratios,
differences and targets say what they should; times are never asserted."""
import pytest
from csn_speed_run import run_csn_speed

INFERENCE = [('MMAction2 eager', 'fp32'), ('MMAction2 eager', 'bf16'),
             ('plugin eval (defaults)', 'fp32'),
             ('plugin deploy (defaults)', 'fp32'),
             ('plugin eval (defaults)', 'bf16'),
             ('plugin deploy (defaults)', 'bf16')]
TRAIN = [('MMAction2 eager', 'fp32'), ('plugin (defaults)', 'fp32'),
         ('MMAction2 eager', 'bf16'), ('plugin (defaults)', 'bf16')]


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_table') / 'table.json'
    return run_csn_speed(out, '--gpu-table', '--small', '--no-compile',
                         '--repeats', '1')


def test_rows_and_ratios(dry_run):
    output, table = dry_run
    assert 'device: cpu (dry run of the GPU table' in output
    sections = {}
    for row in table['rows']:
        assert row['error'] is None, row
        assert row['ms'] > 0 and row['clips_per_s'] > 0
        assert row['peak_mib'] is None  # CUDA only
        sections.setdefault(row['section'], []).append(row)
    assert list(sections) == ['inference', 'train, BN training',
                              'train, BN frozen']
    assert [(r['label'], r['dtype'])
            for r in sections['inference']] == INFERENCE
    for name in ('train, BN training', 'train, BN frozen'):
        assert [(r['label'], r['dtype']) for r in sections[name]] == TRAIN
    for rows in sections.values():
        refs = {r['dtype']: r for r in rows if r['reference']}
        assert sorted(refs) == ['bf16', 'fp32']
        for row in rows:
            ref = refs[row['dtype']]
            assert row['speedup'] == pytest.approx(ref['ms'] / row['ms'])
            assert row['noise'] is not None and row['diff'] is not None
        assert all(r['diff'] == 0 for r in refs.values())


def test_the_plugin_computes_what_mmaction2_computes(dry_run):
    _, table = dry_run
    for row in table['rows']:
        if row['dtype'] == 'fp32' and row['section'] == 'inference':
            assert row['diff'] < 1e-4, row
    checks = table['correctness']
    assert checks['eval output'][0] < 1e-4
    assert checks['deploy output'][0] < 1e-4
    plugin, noise = checks['train gradients, BN training']
    assert plugin < max(10 * noise, 1e-4)
    to_exact, builtin_to_exact = checks[
        'train gradients vs float64 (plugin | MMAction2)']
    assert to_exact < max(10 * builtin_to_exact, 1e-4)


def test_targets(dry_run):
    output, table = dry_run
    texts = [t['text'] for t in table['targets']]
    defaults = [r for r in table['rows'] if r['defaults']]
    # one speed target a defaults row (no memory on the CPU), the compile
    # one and the two bf16 train steps
    assert len(texts) == len(defaults) + 1 + 2
    compiled = [t for t in table['targets']
                if 'torch.compile of MMAction2 bf16' in t['text']]
    assert len(compiled) == 1 and compiled[0]['passed'] is None
    for target in table['targets']:
        mark = {None: 'not measured', True: 'PASS', False: 'FAIL'}[
            target['passed']]
        assert f"{mark}  {target['text']}" in output
