"""The drn placeholder lets ``import mmaction.models`` work on the PyPI wheel.

Each check runs in a fresh interpreter, outside the repository, so that it
sees the installed packages and nothing imported earlier in the session.
"""
import json
import subprocess
import sys
import textwrap

import pytest

from csn_plugin.compat.drn import drn_is_missing, install_drn_placeholder


def run_python(code, cwd):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          timeout=120)


@pytest.fixture(autouse=True)
def wheel_without_drn():
    # mmaction2 1.2.0 from PyPI (pinned in setup.py) lacks the package.
    assert drn_is_missing(), 'mmaction ships localizers/drn: re-check #2714'


def test_mmaction_models_fails_without_plugin(tmp_path):
    result = run_python('import mmaction.models', tmp_path)
    assert result.returncode != 0
    assert "No module named 'mmaction.models.localizers.drn'" in result.stderr


def test_import_after_plugin_and_drn_explains(tmp_path):
    result = run_python(
        """
        import importlib.util, json
        import csn_plugin
        import mmaction.models
        from mmaction.registry import MODELS
        spec = importlib.util.find_spec('mmaction.models.localizers.drn')
        try:
            MODELS.build(dict(type='DRN'))
            error = None
        except Exception as e:
            error = [type(e).__name__, str(e)]
        print(json.dumps(dict(spec=spec.name, error=error)))
        """, tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out['spec'] == 'mmaction.models.localizers.drn'
    assert out['error'] is not None, 'building DRN should fail'
    kind, message = out['error']
    assert kind == 'ImportError'
    assert 'open-mmlab/mmaction2#2714' in message
    assert 'Install mmaction2 from source' in message


def test_custom_imports_route(tmp_path):
    """A config's ``custom_imports``, as ``mim train mmaction`` reads it."""
    config = tmp_path / 'cfg.py'
    config.write_text("custom_imports = dict(imports=['csn_plugin'], "
                      'allow_failed_imports=False)\n')
    result = run_python(
        f"""
        from mmengine.config import Config
        Config.fromfile({str(config)!r})
        import mmaction.models
        from mmaction.registry import MODELS
        print(MODELS.get('ResNet3dCSN').__module__)
        """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        'csn_plugin.models.backbones.resnet3d_csn')


def test_install_is_idempotent():
    import mmaction.models  # noqa: F401  (already imported by csn_plugin)
    module = sys.modules['mmaction.models.localizers.drn']
    assert install_drn_placeholder() is True
    assert install_drn_placeholder() is True
    assert sys.modules['mmaction.models.localizers.drn'] is module
