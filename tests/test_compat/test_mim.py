"""``mim`` runs in the installed environment and finds csn_plugin's files."""
import importlib.metadata
import os
import os.path as osp
import subprocess
import sys

from packaging.version import Version

MIM_PARTS = ('configs', 'tools')


def test_mim_version_runs(venv_bin):
    result = subprocess.run([osp.join(venv_bin, 'mim'), '--version'],
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    expected = importlib.metadata.version('openmim')
    assert result.stdout.strip() == f'mim, version {expected}'


def test_pkg_resources_available():
    # openmim 0.3.9 imports pkg_resources, removed in setuptools 81.
    import pkg_resources  # noqa: F401
    assert Version(importlib.metadata.version('setuptools')) < Version('81')


def test_importlib_metadata_available():
    # mmaction2 1.2.0 imports it without declaring it.
    import importlib_metadata
    assert importlib_metadata.version('mmaction2') == '1.2.0'


def relative_files(root):
    return {
        osp.relpath(osp.join(d, f), root)
        for d, _, files in os.walk(root) for f in files
        if '__pycache__' not in d and not f.endswith('.pyc')
    }


def test_installed_package_carries_mim_files(repo_root, tmp_path):
    # Outside the repository, as a user runs mim: there the source tree (and
    # the egg-info a build leaves in it) would shadow the installed package.
    result = subprocess.run([
        sys.executable, '-c', 'from mim.utils import get_installed_path; '
        "print(get_installed_path('csn_plugin'))"
    ],
                            cwd=tmp_path,
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    installed = result.stdout.strip().splitlines()[-1]
    assert osp.realpath(installed) != osp.realpath(
        osp.join(repo_root, 'csn_plugin')), (
            'csn_plugin is installed in editable mode, which has no .mim; '
            'install it with `pip install .`')
    for part in MIM_PARTS:
        shipped = osp.join(installed, '.mim', part)
        assert osp.isdir(shipped), f'{shipped} is missing'
        source = osp.join(repo_root, part)
        missing = relative_files(source) - relative_files(shipped)
        assert not missing, (f'{sorted(missing)} from {part}/ are not in '
                             f'{shipped}: reinstall csn_plugin')
