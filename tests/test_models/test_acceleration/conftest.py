"""Fixtures shared by the acceleration tests, and Triton's interpreter for
the Triton kernels' tests (``test_triton_depthwise.py``), which run them on
CPU tensors.

Triton reads ``TRITON_INTERPRET`` once, when it is first imported (its own
library functions are built for the interpreter or the GPU then), so the
variable is set here, while pytest collects, before any test imports Triton
(``torch.compile`` does too, on the CPU). It changes nothing else: no
other code of the suite runs Triton kernels on CPU tensors.
"""
import os
import sys

import pytest

if 'triton' not in sys.modules:
    os.environ['TRITON_INTERPRET'] = '1'

from csn_plugin.models.acceleration import support  # noqa: E402


@pytest.fixture
def logged(monkeypatch):
    """The messages the acceleration paths log through mmengine, INFO lines
    included."""
    messages = []
    monkeypatch.setattr(support, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    return messages
