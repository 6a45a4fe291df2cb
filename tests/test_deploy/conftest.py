"""Fixtures of the deploy tests: the tiny recognizer's checkpoint and its
exports."""
import contextlib
import io

import pytest
from deploy_helpers import (MOTION_CONFIG, SHAPE, TINY, save_checkpoint,
                            tiny_recognizer)

from csn_plugin.tools import export


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory):
    _, model = tiny_recognizer()
    return save_checkpoint(
        model, tmp_path_factory.mktemp('deploy') / 'tiny.pth')


@pytest.fixture(scope='session')
def tiny_exports(tiny_checkpoint, tmp_path_factory):
    """The tiny model exported by the tool, as ONNX and OpenVINO IR, with
    verification on; returns (onnx, xml, tool output)."""
    out = tmp_path_factory.mktemp('exports')
    onnx_file, xml_file = str(out / 'tiny.onnx'), str(out / 'tiny.xml')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        export.main([
            MOTION_CONFIG, tiny_checkpoint, onnx_file, '--shape', *SHAPE,
            '--openvino-ir', xml_file, '--cfg-options', *TINY
        ])
    return onnx_file, xml_file, printed.getvalue()
