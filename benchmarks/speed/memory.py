"""Peak memory of one implementation, measured in a fresh process so that
one row's allocations do not count against another's."""
import os
import subprocess
import sys

import torch

from .cases import builtin_model, clip_of, prepare
from .timing import step_fn

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'csn_speed.py')


def rss_mib():
    """Current and peak resident memory of this process, MiB."""
    with open('/proc/self/status') as f:
        fields = dict(line.split(':', 1) for line in f)
    return (int(fields['VmRSS'].split()[0]) / 1024,
            int(fields['VmHWM'].split()[0]) / 1024)


def reset_peak_rss():
    """Reset the kernel's peak RSS of this process (Linux >= 4.0)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def peak_growth(fn, calls=2):
    """Peak RSS over ``calls`` calls of ``fn`` minus RSS before them (CPU,
    MiB)."""
    base, _ = rss_mib()
    reset_peak_rss()
    for _ in range(calls):
        fn()
    return rss_mib()[1] - base


def peak_in_subprocess(cmd):
    """Run ``cmd``, a probe that prints ``PEAK_MIB <value>``; the value."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith('PEAK_MIB '):
            return float(line.split()[1])
    sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
    raise RuntimeError(f'memory probe failed: {" ".join(cmd)}')


def probe(case, impl, device, calls=2):
    """Peak memory of ``calls`` calls of ``impl``, run in this (fresh)
    process, after one call that warms it up (and compiles it): the peak of
    RSS over the calls minus RSS before them on CPU,
    ``max_memory_allocated`` growth on CUDA. What is measured is the working
    memory of the forward (and backward), not the weights."""
    torch.manual_seed(0)
    model = prepare(case, impl, builtin_model(case, calibrated=False),
                    device)
    x = clip_of(case, device)
    with torch.no_grad():
        projection = torch.randn_like(model(x).float())
    fn = step_fn(case, model, x, device, impl.dtype, projection)
    fn()
    if device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    return peak_growth(fn, calls)


def in_subprocess(args, case_index, impl_index):
    """:func:`probe` of one implementation of one case, in a new process
    running ``csn_speed.py --probe-memory``."""
    cmd = [sys.executable, SCRIPT, '--device', args.device, '--threads',
           str(args.threads), '--probe-memory', f'{case_index}:{impl_index}'
           ] + (['--quick'] if args.quick else []) + (
               [] if args.compile else ['--no-compile']) + (
                   ['--cases', *args.cases] if args.cases else [])
    return peak_in_subprocess(cmd)
