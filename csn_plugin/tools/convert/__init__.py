"""Convert CSN weights from VMZ (Caffe2, PyTorch) and PyTorchVideo into
MMAction2's ``Recognizer3D`` layout (``backbone.*``, ``cls_head.fc_cls.*``).

Usage::

    python -m csn_plugin.tools.convert {vmz-caffe2,vmz,pytorchvideo} \\
        SRC DST.pth [--config OUT_CONFIG.py]

One module per source format (:mod:`.vmz_caffe2`, :mod:`.vmz`,
:mod:`.pytorchvideo`) holds its key tables and reads its files;
:mod:`.reading` reads files safely, :mod:`.layout` pairs keys by the
formats' tables, :mod:`.conversion` checks the result against the plugin's
model, reports and writes it.
See ``docs/converting_weights.md``.
"""
from . import pytorchvideo, vmz, vmz_caffe2
from .conversion import Conversion, convert
from .layout import NetworkSpec
from .reading import ConversionError

#: command-line name -> format module
FORMATS = {fmt.NAME: fmt for fmt in (vmz_caffe2, vmz, pytorchvideo)}

__all__ = [
    'FORMATS', 'Conversion', 'ConversionError', 'NetworkSpec', 'convert'
]
