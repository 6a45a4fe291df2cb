"""Side-by-side speed of MMAction2's ResNet3dCSN and csn_plugin's.

Every row of a case runs in this process with the same weights (MMAction2's
state dict loaded into the plugin's backbones), on the same clip, and the
calls of the rows alternate, so load from other processes hits them alike.
Rows: MMAction2's model as it is and under ``torch.compile`` (the public
compiler on the unmodified model, the bar to beat), and the plugin's val
path, test path (deploy, compiled), deploy without compiling, and bf16 where
the CPU has native bf16. Columns: median time, speed-ups, the largest output
(or gradient) difference from MMAction2's, compile time and peak memory
(each row in a fresh subprocess). The parts live in ``benchmarks/speed/``.

    python benchmarks/csn_speed.py               # the full table
    python benchmarks/csn_speed.py --quick       # small shapes, a minute
    python benchmarks/csn_speed.py --mim-test CONFIG CHECKPOINT
    python benchmarks/csn_speed.py --device cuda  # the GPU table (speed/gpu.py)
    python benchmarks/csn_speed.py --gpu-table --small  # its dry run on CPU
    bash benchmarks/full_run.sh                  # all of it, one command

Speed figures only; nothing here is a pass/fail test.
"""
import argparse
import json
import sys
import tempfile

import torch

import csn_plugin  # noqa: F401  (fixes the stack, registers the plugin)
from csn_plugin.models.acceleration import cpu_summary
from speed import accuracy, gpu, memory, mim_test, report
from speed.cases import (allow_compiling, builtin_model, cases_for, clip_of,
                         prepare)
from speed.timing import step_fn, time_interleaved, timed


def run_case(case, args, device):
    """The rows of one case: time, speed-ups and differences."""
    torch.manual_seed(0)
    builtin = builtin_model(case).to(device)
    builtin.train(case.mode == 'train')
    x = clip_of(case, device)
    with torch.no_grad():
        projection = torch.randn_like(builtin(x).float())
    models = [prepare(case, impl, builtin, device) for impl in case.impls]
    fns = [step_fn(case, m, x, device, impl.dtype, projection)
           for m, impl in zip(models, case.impls)]
    # The first call of each warms it up (compiles the compiled rows) and
    # gives the compared outputs, all from the same weights.
    first = [timed(fn, device) for fn in fns]
    results = [accuracy.result_of(case, m, out)
               for m, (_, out) in zip(models, first)]
    reference = results[0]
    noise = accuracy.noise_floors(case, builtin, x, device, projection,
                                  reference)
    if case.mode == 'infer' and 'bf16' in noise:
        rounding = accuracy.input_rounding_error(
            builtin, x, {'output': reference['output']})
    seconds = time_interleaved(fns, args.repeats, device)
    by_label = dict(zip((i.label for i in case.impls), seconds))
    rows = []
    for impl, s, result, (first_s, _) in zip(case.impls, seconds, results,
                                             first):
        row = dict(case=case.name, shape='x'.join(map(str, case.shape)),
                   impl=impl.label, dtype=impl.dtype, seconds=s,
                   speedup=seconds[0] / s,
                   rel_diff=accuracy.rel_diff(reference, result),
                   noise=noise[impl.dtype])
        if 'MMAction2 + torch.compile' in by_label:
            row['vs_compiled'] = by_label['MMAction2 + torch.compile'] / s
        if impl.compile:
            row['compile_s'] = first_s
        if case.mode == 'infer' and impl.dtype == 'bf16':
            row['input_rounding'] = rounding
        rows.append(row)
    return rows


def run_cases(cases, args, device):
    """Every case; the table, its notes and the bf16 accuracy tables."""
    rows, bf16 = [], {}
    for index, case in enumerate(cases):
        case_rows = run_case(case, args, device)
        for row in case_rows:
            if 'input_rounding' in row:
                bf16[case.name] = accuracy.bf16_accuracy(case, row, device)
        if args.memory:
            for i, row in enumerate(case_rows):
                row['mib'] = memory.in_subprocess(args, index, i)
        rows += case_rows
        print(f'  done: {case.name}', file=sys.stderr, flush=True)
    print(f'load average (1/5/15 min) at end: {report.load_average()}\n')
    report.print_table(rows, device, args.memory)
    print('\n' + report.NOTES.format(repeats=args.repeats))
    if args.memory:
        print(report.MEMORY_NOTE.format(
            what='peak CUDA memory allocated' if args.device == 'cuda' else
            'peak RSS (VmHWM)'))
    for case in cases:
        if case.name in bf16:
            accuracy.print_bf16_accuracy(case, bf16[case.name])
    return rows, bf16


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='small depths and clips (about a minute on 2 '
                        'CPU cores without the compiled rows)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--repeats', type=int, default=None,
                        help='timed calls per row (default 5, quick 3)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch\'s, which follows '
                        'OMP_NUM_THREADS)')
    parser.add_argument('--no-memory', dest='memory', action='store_false',
                        help='skip the peak-memory subprocesses')
    parser.add_argument('--no-compile', dest='compile', action='store_false',
                        help='skip the torch.compile rows (compiling takes '
                        'tens of seconds a model on 2 cores)')
    parser.add_argument('--json', help='also write the rows to this file')
    parser.add_argument(
        '--mim-test', nargs=2, metavar=('CONFIG', 'CHECKPOINT'),
        help='also time the whole `mim test csn_plugin CONFIG -C '
        'CHECKPOINT` per video for each path and compare their top-1 '
        "predictions; run from where the config's data paths resolve")
    parser.add_argument('--only-mim-test', action='store_true',
                        help='with --mim-test: skip the backbone cases')
    parser.add_argument('--cases', nargs='+', metavar='TEXT',
                        help='only the cases whose name contains one of '
                        "these, e.g. 'ir-CSN-152 inference'")
    parser.add_argument('--gpu-table', action='store_true',
                        help='the GPU table (benchmarks/speed/gpu.py), which '
                        '--device cuda prints; with --device cpu a dry run')
    parser.add_argument('--small', action='store_true',
                        help='GPU table: tiny shapes (for a dry run on CPU)')
    parser.add_argument('--batch', type=int, default=None,
                        help='GPU table: clips a forward (default 30, one '
                        "video's 10x3 test views; quick 8, small 2)")
    parser.add_argument('--probe-memory', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    return args


def main():
    args = parse_args()
    if args.compile:
        allow_compiling()
    if args.device == 'cuda' or args.gpu_table:
        gpu.main(args)
        return
    device = torch.device(args.device)
    cases = cases_for(args.quick, args.device, args.compile)
    if args.cases:
        cases = [c for c in cases if any(t in c.name for t in args.cases)]
        if not cases:
            raise SystemExit(f'--cases {args.cases}: no case matches')
    if args.probe_memory:
        case_index, impl_index = map(int, args.probe_memory.split(':'))
        case = cases[case_index]
        print(f'PEAK_MIB {memory.probe(case, case.impls[impl_index], device)}')
        return

    print(f'# csn_plugin vs MMAction2 ResNet3dCSN, {args.device}'
          f"{' (quick)' if args.quick else ''}")
    print(f'CPU: {cpu_summary()}; torch {torch.__version__}, {args.threads} '
          'threads' + (f', {torch.cuda.get_device_name()}'
                       if args.device == 'cuda' else ''))
    print(report.isa_limits())
    print(f'load average (1/5/15 min) at start: {report.load_average()}')
    rows, bf16, mim_rows = [], {}, []
    if not args.only_mim_test:
        rows, bf16 = run_cases(cases, args, device)
    if args.mim_test:
        with tempfile.TemporaryDirectory() as work_dir:
            mim_rows = mim_test.run_mim_test(*args.mim_test, work_dir,
                                             args.compile)
        mim_test.print_mim_test(mim_rows, args.mim_test[0])
    if rows and (args.quick or args.device != 'cpu'):
        print('\n(The targets are for the full run on CPU.)')
    elif rows:
        report.print_targets(rows, args.memory, bf16, mim_rows)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(cpu=cpu_summary(), rows=rows, accuracy=bf16,
                           mim_test=mim_rows), f, indent=1)


if __name__ == '__main__':
    main()
