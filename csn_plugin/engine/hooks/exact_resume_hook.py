"""Make a resumed run draw the random numbers an uninterrupted run draws."""
import multiprocessing
import random
from typing import Sequence

import numpy as np
import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import get_worker_info

from ...datasets.nesting import iter_datasets

__all__ = ['ExactResumeHook']

# Tags that keep the main process's and the workers' streams apart.
_MAIN, _WORKER = 0, 1


def _seed_all(entropy: Sequence[int]) -> None:
    """Seed Python's, numpy's and torch's global generators from
    ``entropy``."""
    python, numpy, torch_seed = np.random.SeedSequence(
        [int(e) % 2**32 for e in entropy]).generate_state(3)
    random.seed(int(python))
    np.random.seed(int(numpy))
    torch.manual_seed(int(torch_seed))


class _EpochSeededPipeline:
    """A dataset's pipeline that reseeds the generators of the process it
    runs in (a DataLoader worker, or the main process without workers) at the
    first sample of every epoch, from ``(entropy, epoch, worker id)``."""

    def __init__(self, pipeline, entropy: Sequence[int], epoch) -> None:
        self.pipeline = pipeline
        self.entropy = tuple(entropy)
        self.epoch = epoch
        self.seeded_epoch = None

    def __call__(self, results: dict):
        epoch = self.epoch.value
        if epoch != self.seeded_epoch:
            info = get_worker_info()
            worker = 0 if info is None else info.id + 1
            _seed_all(self.entropy + (epoch, worker))
            self.seeded_epoch = epoch
        return self.pipeline(results)

    def __getattr__(self, name: str):
        # The rest (``transforms`` ...) is the wrapped pipeline's; names of
        # our own, looked up before they exist when unpickled, are not.
        if name.startswith('_') or name in ('pipeline', 'entropy', 'epoch',
                                            'seeded_epoch'):
            raise AttributeError(name)
        return getattr(self.pipeline, name)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.pipeline!r})'


def _sampler_seed_is_the_runners(runner) -> bool:
    """Whether the training sampler was given the runner's seed: the config
    sets none of its own, nor ``randomness.diff_rank_seed``."""
    cfg = getattr(runner, 'cfg', None) or {}
    if (cfg.get('randomness') or {}).get('diff_rank_seed'):
        return False
    loader = cfg.get('train_dataloader')
    sampler = loader.get('sampler') if isinstance(loader, dict) else None
    return not (isinstance(sampler, dict) and sampler.get('seed') is not None)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Draw every random number of training from ``(seed, epoch,
    iteration)``, so that a run resumed from an epoch checkpoint trains
    exactly as it would have without the interruption.

    mmengine seeds the generators once, when the run starts, and its
    DataLoader workers once, when they start. A resumed run therefore draws
    other random numbers than the interrupted run would have: in the main
    process (dropout, a data preprocessor's mixing) and, with
    ``persistent_workers=True``, in the workers (frame sampling, crops). The
    checkpoint restores the weights, optimizer, schedulers and iteration
    count, but not the generators.

    This hook reseeds Python's, numpy's and torch's generators:

    - in the main process, before every training iteration, from
      ``(seed, iteration)``;
    - in each DataLoader worker (or the main process without workers), at
      its first sample of every epoch, from ``(seed, rank, dataset, epoch,
      worker id)``, through a wrapper around the training datasets'
      pipelines.

    With it, the samples, augmentations and dropout masks of an epoch depend
    only on the seed, the epoch and the iteration: a run resumed from the
    checkpoint of epoch ``N`` trains epoch ``N + 1`` on the same batches with
    the same random draws as the uninterrupted run. It also restores the
    sampler's shuffling seed from the checkpoint when the config leaves it
    to the runner (``randomness.seed=None``). Each epoch's draws differ
    from the others', as without the hook.

    Limits: the training loop must be epoch-based (``EpochBasedTrainLoop``;
    with another loop the hook warns and does nothing), the same number of
    DataLoader workers and processes must be used, and
    ``randomness.diff_rank_seed`` must be off. Skipped corrupt videos
    (``on_corrupt='skip'``) are replaced by draws of the same generators, so
    the replacements repeat too.

    The plugin's ``default_runtime.py`` adds it as
    ``default_hooks.exact_resume``; ``--cfg-options
    default_hooks.exact_resume.enable=False`` turns it off.

    Args:
        enable (bool): Whether the hook acts. Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, enable: bool = True) -> None:
        self.enable = enable
        self._epoch = None

    def before_train(self, runner) -> None:
        if not self.enable:
            return
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            runner.logger.warning(
                f'ExactResumeHook: {type(runner.train_loop).__name__} is '
                'not epoch-based; the hook does nothing.')
            return
        # The sampler took the seed of this run's start; a resumed run's
        # seed comes from the checkpoint.
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if hasattr(sampler, 'seed') and _sampler_seed_is_the_runners(runner):
            sampler.seed = runner.seed
        self._epoch = multiprocessing.get_context('spawn').RawValue('q', -1)
        wrapped = set()
        for position, dataset in enumerate(
                iter_datasets(runner.train_dataloader.dataset)):
            pipeline = getattr(dataset, 'pipeline', None)
            if not callable(pipeline) or id(dataset) in wrapped:
                continue
            dataset.pipeline = _EpochSeededPipeline(
                pipeline, (runner.seed, _WORKER, runner.rank, position),
                self._epoch)
            wrapped.add(id(dataset))

    def before_train_epoch(self, runner) -> None:
        if self._epoch is not None:
            self._epoch.value = runner.epoch

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self._epoch is not None:
            _seed_all((runner.seed, _MAIN, runner.iter))
