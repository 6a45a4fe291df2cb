"""Install csn_plugin.

A plain ``pip install .`` also copies ``configs/``, ``tools/`` and
``model-index.yml`` into ``csn_plugin/.mim/`` so that ``mim train/test/search/
download csn_plugin ...`` find them, as they do for OpenMMLab packages (mim
reads ``<package>/.mim/model-index.yml`` first). PEP 660 editable installs have no ``.mim``;
use a regular install.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
MIM_PARTS = ('configs', 'tools', 'model-index.yml')


def read_version():
    scope = {}
    with open(osp.join(HERE, 'csn_plugin', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


class BuildPyWithMim(build_py):
    """build_py that ships :data:`MIM_PARTS` as ``csn_plugin/.mim``."""

    def run(self):
        super().run()
        mim_dir = osp.join(self.build_lib, 'csn_plugin', '.mim')
        os.makedirs(mim_dir, exist_ok=True)
        for part in MIM_PARTS:
            src = osp.join(HERE, part)
            dst = osp.join(mim_dir, part)
            if osp.isfile(src):
                shutil.copyfile(src, dst)
                continue
            if not osp.isdir(src):  # a checkout may not have it yet
                continue
            if osp.isdir(dst):
                shutil.rmtree(dst)
            shutil.copytree(
                src, dst,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


INSTALL_REQUIRES = [
    'torch>=2.4',  # torch.get_autocast_dtype / is_autocast_enabled(device)
    'mmengine==0.10.7',
    'mmcv-lite>=2.0.0rc4,<2.2.0',  # mmaction2 1.2.0 asserts mmcv < 2.2.0
    'mmaction2==1.2.0',
    'decord==0.6.0',
    'opencv-python',
    'numpy',
    'tqdm',
    # mmaction2 1.2.0 imports it without declaring it.
    'importlib_metadata',
    # openmim 0.3.9 imports pkg_resources, which setuptools 81 removed.
    'openmim==0.3.9',
    'setuptools>=64,<81',
    # openxlab (openmim -> opendatalab -> openxlab) >= 0.0.12 pins old
    # setuptools/requests/rich and would downgrade them.
    'openxlab==0.0.11',
]

# ONNX export, onnxruntime and OpenVINO inference, int8 quantization
# (docs/deploy.md)
# ml_dtypes: onnxruntime's quantization imports it; onnx >= 1.18 brings it,
# but with the mmdeploy extra pip resolves onnx 1.17, which does not.
DEPLOY_REQUIRES = [
    'onnx>=1.14', 'onnxruntime>=1.17', 'openvino>=2024.0', 'nncf>=2.10',
    'ml_dtypes'
]

# OpenMMLab's deployment toolkit (docs/deploy.md#mmdeploy); its onnxruntime
# backend needs onnxruntime, which it does not declare. mmdeploy 1.3.1 pins
# protobuf<=3.20.2, so with it pip resolves onnx 1.17 and onnxruntime 1.26
# (later ones want a newer protobuf). The plugin's fixes for it:
# csn_plugin/compat/mmdeploy_*.py.
MMDEPLOY_REQUIRES = ['mmdeploy==1.3.1', 'onnxruntime>=1.17']

EXTRAS_REQUIRE = {
    # Everything a test imports. pytorchvideo: tests/test_tools/test_convert
    # builds its create_csn as the reference of the converter (its head
    # module wants torchvision, for which the test puts in a stand-in;
    # torchvision itself is not needed). psutil: the interrupted-training
    # flow test finds the processes it kills; the decode soak benchmark (and
    # its test) measures their memory. imageio-ffmpeg: the demo test writes
    # its video with the ffmpeg binary it carries. triton: the depthwise
    # kernels' tests run them under its CPU interpreter (TRITON_INTERPRET=1),
    # no GPU needed. The deploy tests need the deploy stack.
    'tests': [
        'pytest>=7', 'pytest-timeout', 'pytorchvideo==0.1.5', 'psutil',
        'imageio-ffmpeg', 'packaging', 'pyyaml', 'triton>=3.0'
    ] + DEPLOY_REQUIRES + MMDEPLOY_REQUIRES,
    'benchmarks': ['psutil'],
    # MMAction2's tools/visualizations/vis_cam.py imports moviepy.editor,
    # which moviepy 2 removed; matplotlib draws the quickstart's plots.
    'vis': ['moviepy<2', 'matplotlib'],
    # The fused Triton kernels of the depthwise 3D convs on CUDA GPUs
    # (docs/gpu.md).
    'gpu': ['triton>=3.0'],
    'deploy': DEPLOY_REQUIRES,
    'mmdeploy': MMDEPLOY_REQUIRES,
}

setup(
    name='csn_plugin',
    version=read_version(),
    description='Channel-Separated Convolutional Networks (CSN) and SEVNet '
    'for MMAction2',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['csn_plugin', 'csn_plugin.*']),
    include_package_data=False,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    cmdclass={'build_py': BuildPyWithMim},
    zip_safe=False,
)
