"""Fixes for the OpenMMLab stack as it installs from PyPI today.

``patch_stack()`` runs once when ``csn_plugin`` is imported. The ``drn``
placeholder and the VindLU guard go in first, before anything imports
``mmaction.models``; mmdeploy's fixes, where mmdeploy is installed, go in
last.
"""
from .bf16_scores import install_bf16_scores
from .checkpoint_loading import install_checkpoint_allowlist
from .checkpoint_saving import install_crash_safe_checkpoints
from .cpu_autocast import install_cpu_autocast
from .cpu_distributed import install_cpu_distributed
from .drn import install_drn_placeholder
from .feature_extraction_tool import install_feature_extraction_video_root
from .mmdeploy_onnx_export import install_mmdeploy_onnx_export
from .mmdeploy_video_recognition import install_mmdeploy_video_recognition
from .vindlu import install_vindlu_guard

__all__ = ['patch_stack']


def patch_stack():
    """Apply every fix; safe to call more than once."""
    install_drn_placeholder()
    install_vindlu_guard()
    install_checkpoint_allowlist()
    install_crash_safe_checkpoints()
    install_cpu_distributed()
    install_bf16_scores()
    install_cpu_autocast()
    install_feature_extraction_video_root()
    # mmdeploy, where installed: last, it imports mmaction's modules
    install_mmdeploy_onnx_export()
    install_mmdeploy_video_recognition()
