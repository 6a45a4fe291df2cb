"""The tables, the notes under them and the targets."""
import os

from .cases import MIM_TEST_ROUTE
from .mim_test import MIM_TEST_BF16

NOTES = """\
- Times: medians of {repeats} timed calls after one warm-up call (which
  compiles the compiled rows: "compile s"); the calls of all rows of a case
  alternate, so load from other processes hits them alike.
- Inference: one forward under no_grad. Train step: forward, a linear loss
  on the features, backward.
- Rows: MMAction2 = its ResNet3dCSN as it is; + torch.compile = the same
  model, weights in channels_last_3d, through torch.compile (inductor,
  freezing). Plugin: eval = the val path (the module tree as built, every
  module called); deploy = switch_to_deploy() (FusedConv3d and
  FusedResidualBlock3d modules) run eagerly (`mim test --compile never`);
  deploy + compile = the same through CompiledInference (torch.compile,
  inductor, freezing; `--compile always`); mim test route = FastestRoute,
  the faster of the two measured once in the warm-up call (`mim test`'s
  default, `--compile auto`); bf16 = deploy under bf16 autocast, as
  test_cfg.fp16 runs it (only on CPUs with native bf16); fp32/bf16 train =
  channels_last_3d, frozen BN folded at each call (mmcv's
  efficient_conv_bn_eval).
- Rel. diff: max|a - b| / max|MMAction2| of the output against MMAction2's,
  and for a train step also ||a - b|| / ||MMAction2|| of each parameter's
  gradient; the largest. Noise floor: the same measure for MMAction2's own
  model fed a channels_last_3d clip (fp32 rows) or run under the autocast of
  the row's dtype. All from the same weights: random, with BN statistics
  calibrated on a random clip (random networks this deep are chaotic, so
  both columns are far larger than on trained weights)."""
MEMORY_NOTE = """\
- Memory: {what} over two calls after a warm-up call, minus its value
  before them, each row in a fresh subprocess; weights were allocated
  before."""

#: (case, row, reference row, least speed-up, largest relative difference)
#: The bf16 difference is checked where it means something (see
#: :func:`bf16_target`).
TARGETS = [
    ('ir-CSN-152 inference', 'deploy', 'MMAction2', 2.0, 1e-4),
    ('ir-CSN-152 inference', MIM_TEST_ROUTE, 'MMAction2 + torch.compile',
     1.0, None),
    ('ir-CSN-50 inference', MIM_TEST_ROUTE, 'MMAction2 + torch.compile', 1.0,
     None),
    ('ir-CSN-152 inference', 'deploy, bf16', 'MMAction2', 3.5, 3e-2),
    ('ir-CSN-50 train step, BN frozen', 'fp32', 'MMAction2', 1.35, None),
    ('ir-CSN-50 train step, BN training', 'fp32', 'MMAction2', 1.35, None),
]


#: Environment variables that cap the instruction sets of the kernel
#: libraries: with AVX2 in each, an AVX-512 machine runs as an AVX2-only one
#: (ONEDNN_MAX_CPU_ISA: oneDNN's convolutions; ATEN_CPU_CAPABILITY: ATen's
#: kernels; MKL_ENABLE_INSTRUCTIONS: MKL). With ATEN_CPU_CAPABILITY=avx2 on
#: an AVX-512 CPU, torch 2.13's inductor code computes wrong outputs
#: (docs/performance.md): leave it unset for the compiled rows.
ISA_LIMITS = ('ONEDNN_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY',
              'MKL_ENABLE_INSTRUCTIONS')


def isa_limits():
    """A line naming the instruction-set caps in force, if any."""
    limits = [f'{name}={os.environ[name]}' for name in ISA_LIMITS
              if os.environ.get(name)]
    if not limits:
        return 'instruction sets: as the CPU offers them'
    return ('instruction sets capped (an emulated narrower CPU): ' +
            ', '.join(limits))


def load_average():
    try:
        return '/'.join(f'{v:.1f}' for v in os.getloadavg())
    except OSError:
        return 'n/a'


def print_table(rows, device, memory):
    mem = ('peak CUDA alloc. growth MiB' if device.type == 'cuda' else
           'peak RSS growth MiB')
    compiled = any(r.get('vs_compiled') for r in rows)
    head = ['case', 'input NxCxTxHxW', 'row', 'median s', 'speed-up vs '
            'MMAction2'] + (['vs MMAction2 + torch.compile'] if compiled
                            else []) + ['rel. diff', 'noise floor',
                                        'compile s']
    if memory:
        head.append(mem)
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '|'.join('---' for _ in head) + '|']
    for r in rows:
        cells = [r['case'], r['shape'], r['impl'], f"{r['seconds']:.3f}",
                 f"{r['speedup']:.2f}x"]
        if compiled:
            cells.append(f"{r['vs_compiled']:.2f}x" if r.get('vs_compiled')
                         else '')
        cells += ['' if r['impl'] == 'MMAction2' else f"{r['rel_diff']:.1e}",
                  '' if r['impl'] == 'MMAction2' else f"{r['noise']:.1e}",
                  f"{r['compile_s']:.0f}" if r.get('compile_s') else '']
        if memory:
            cells.append(f"{r['mib']:.0f}")
        lines.append('| ' + ' | '.join(cells) + ' |')
    print('\n'.join(lines))


def bf16_target(diff, accuracy, mim_rows):
    """The bf16 accuracy target: ``(met, text)``.

    It is checked on MMAction2's ``init_weights()`` and on the trained model
    of ``--mim-test`` (class scores within ``diff``, the same top-1 as the
    reference on every video). The calibrated random weights are reported
    next to what one bf16 rounding of the input costs on them."""
    ok = accuracy['init_weights']['plugin'] <= diff
    text = (f"rel. diff {accuracy['init_weights']['plugin']:.1e} on "
            f'init_weights (<= {diff:.0e})')
    trained = {r['run']: r for r in mim_rows}.get(MIM_TEST_BF16)
    if trained is None:
        ok = False
        text += ('; trained model not checked (run with --mim-test: '
                 'benchmarks/full_run.sh)')
    else:
        ok = (ok and trained['score_diff'] <= diff
              and trained['agree'] == 1.0)
        text += (f"; trained model (mim test): class-score rel. diff "
                 f"{trained['score_diff']:.1e} (<= {diff:.0e}), same top-1 "
                 f"on {trained['agree']:.0%} of {trained['videos']} videos "
                 '(100%)')
    calibrated = accuracy['calibrated']
    text += (f"; calibrated weights: {calibrated['plugin']:.1e} (MMAction2's "
             f"own bf16 {calibrated['mmaction']:.1e}; rounding only the clip "
             f"to bf16 {calibrated['input_rounding']:.1e})")
    return ok, text


def print_targets(rows, memory, accuracy, mim_rows):
    by_key = {(r['case'], r['impl']): r for r in rows}
    lines = []
    for name, impl, reference, speedup, diff in TARGETS:
        r, ref = by_key.get((name, impl)), by_key.get((name, reference))
        if r is None or ref is None:
            continue
        ratio = ref['seconds'] / r['seconds']
        ok = ratio >= speedup
        text = (f'- {name}, {impl} vs {reference}: {ratio:.2f}x '
                f'(>= {speedup}x)')
        if diff is not None and r['dtype'] == 'bf16':
            diff_ok, diff_text = bf16_target(diff, accuracy[name], mim_rows)
            ok = ok and diff_ok
            text += ', ' + diff_text
        elif diff is not None:
            ok = ok and r['rel_diff'] <= diff
            text += (f", rel. diff {r['rel_diff']:.1e} (<= {diff:.0e}; "
                     f"noise floor {r['noise']:.1e})")
        if memory and reference == 'MMAction2':
            ok = ok and r['mib'] <= ref['mib']
            text += f", memory {r['mib']:.0f} vs {ref['mib']:.0f} MiB"
        lines.append(text + f": {'met' if ok else 'NOT met'}")
    if lines:
        print('\nTargets:\n' + '\n'.join(lines))
