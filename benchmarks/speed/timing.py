"""Timed calls: an inference forward or a training step, calls of the
implementations alternating so that load from other processes hits all of
them alike."""
import statistics
import time
from contextlib import nullcontext

import torch

from .cases import DTYPES


def autocast(device, dtype):
    """The autocast a row runs under: none for fp32; bf16 as
    ``test_cfg.fp16=True`` and ``BF16OptimWrapper`` run it."""
    if dtype == 'fp32':
        return nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[dtype])


def step_fn(case, model, x, device, dtype, projection):
    """One timed call: an inference forward, or a training step (forward,
    a linear loss on the features, backward)."""
    if case.mode == 'infer':

        def run():
            with torch.no_grad(), autocast(device, dtype):
                return model(x)
    else:

        def run():
            model.zero_grad(set_to_none=True)
            with autocast(device, dtype):
                out = model(x)
                loss = (out.float() * projection).sum()
            loss.backward()
            return out

    return run


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def timed(fn, device):
    """Seconds of one call of ``fn``, and its result."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def time_interleaved(fns, repeats, device, settle_s=0.0):
    """Median seconds of each function; calls alternate between them,
    ``settle_s`` apart. Engines whose worker threads keep spinning for a
    while after a call (onnxruntime, OpenVINO) need a pause: on 2 cores
    OpenVINO right after onnxruntime took twice as long as alone."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            time.sleep(settle_s)
            times[i].append(timed(fn, device)[0])
    return [statistics.median(t) for t in times]
