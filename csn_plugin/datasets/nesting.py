"""Walk the datasets inside mmengine's dataset wrappers."""
from typing import Iterator

__all__ = ['iter_datasets']


def iter_datasets(dataset) -> Iterator:
    """Yield ``dataset`` and every dataset inside it, depth first.

    mmengine's ``RepeatDataset`` and ``ClassBalancedDataset`` hold
    ``.dataset``, ``ConcatDataset`` holds ``.datasets``. A dataset held
    twice is yielded twice.

    Args:
        dataset: A dataset, wrapped or not.
    """
    yield dataset
    inner = [getattr(dataset, 'dataset', None)] + list(
        getattr(dataset, 'datasets', []))
    for child in inner:
        if child is not None:
            yield from iter_datasets(child)
