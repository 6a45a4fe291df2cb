"""Fixtures shared by the acceleration tests. (tests/conftest.py sets
``TRITON_INTERPRET=1`` for the Triton kernels' tests.)"""
import pytest

from csn_plugin.models.acceleration import support


@pytest.fixture
def logged(monkeypatch):
    """The messages the acceleration paths log through mmengine, INFO lines
    included."""
    messages = []
    monkeypatch.setattr(support, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    return messages
