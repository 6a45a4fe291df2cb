"""Deployment: ONNX export (:mod:`.export`), onnxruntime and OpenVINO
sessions and the test-time model that runs them (:mod:`.backends`), and
post-training int8 quantization (:mod:`.quantize`).

onnxruntime and OpenVINO are imported only when a session opens (the
``deploy`` extra installs them).
"""
from .backends import ExportedRecognizer, open_session
from .export import RecognizerGraph, export_onnx

__all__ = ['ExportedRecognizer', 'open_session', 'RecognizerGraph',
           'export_onnx']
