"""Report, epoch by epoch, the training samples skipped for corrupt videos."""
import logging

from mmaction.registry import HOOKS
from mmengine.hooks import Hook

from ...datasets import CheckedVideoDataset
from ...datasets.nesting import iter_datasets

__all__ = ['SkippedVideosHook']


@HOOKS.register_module()
class SkippedVideosHook(Hook):
    """Log after every training epoch how many samples the training
    ``CheckedVideoDataset`` skipped because their video is corrupt
    (``on_corrupt='skip'``), so that skipping is never silent.

    The count covers the DataLoader workers too. With an iteration-based
    loop the report comes once, at the end of training. Each skipped file is
    named in its own warning when it is skipped.
    """

    priority = 'LOW'

    def before_train(self, runner) -> None:
        found = [
            d for d in iter_datasets(runner.train_dataloader.dataset)
            if isinstance(d, CheckedVideoDataset)
        ]
        # A dataset listed twice (ConcatDataset([a, a])) is counted once.
        unique = {id(d): d for d in found if d.on_corrupt == 'skip'}
        self._datasets = list(unique.values())
        self._reported = sum(d.num_skipped for d in self._datasets)
        if not self._datasets:
            runner.logger.warning(
                "SkippedVideosHook: the training dataset has no "
                "CheckedVideoDataset with on_corrupt='skip'; there is "
                'nothing to report.')

    def after_train_epoch(self, runner) -> None:
        if not self._datasets:
            return
        total = sum(d.num_skipped for d in self._datasets)
        new, self._reported = total - self._reported, total
        runner.logger.log(
            logging.WARNING if new else logging.INFO,
            f'SkippedVideosHook: {new} training sample(s) skipped for '
            f'corrupt videos in this epoch, {total} in all so far.')
