"""Build-time checks of backbone arguments, with errors that name the value
and what is allowed (rather than an ``AttributeError`` or ``IndexError``
from deep inside the first forward)."""
from collections.abc import Sequence

__all__ = ['check_index_range', 'check_per_stage']


def check_per_stage(name, value, num_stages):
    """``value`` must be a sequence of exactly ``num_stages`` entries, one
    per stage."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f'{name} must be a tuple with one entry per stage '
                        f'({num_stages}), got {value!r}')
    if len(value) != num_stages:
        raise ValueError(f'{name} must have one entry per stage: '
                         f'{num_stages} for num_stages={num_stages}, but got '
                         f'{len(value)}: {tuple(value)}')


def check_index_range(name, values, low, high):
    """Each of ``values`` must be an int in ``[low, high]``."""
    for value in values:
        if (isinstance(value, bool) or not isinstance(value, int)
                or not low <= value <= high):
            raise ValueError(f'{name}: {value!r} is out of range; allowed '
                             f'are the integers {low} to {high}')
