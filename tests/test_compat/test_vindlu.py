"""The plugin and MMAction2 import with transformers 5 and with 4.x.

Each check runs in a fresh interpreter with stand-in ``transformers`` and
``timm`` packages (plus the dist-info MMAction2 reads the version from)
first on ``PYTHONPATH``. They answer every import with a stub
(tests/test_compat/stand_in_package.py), so MMAction2's VindLU modules
import from them, except that the 5.x ``transformers.modeling_utils`` has
no ``apply_chunking_to_forward``, as in the real 5.0.
"""
import json
from importlib import metadata
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

from csn_plugin.compat.vindlu import install_vindlu_guard

LOG_LINE = 'VindLU models need transformers<5 and are left out'
VINDLU_NAMES = ('VindLUVQA', 'VindLURetrievalMC', 'VindLURetrieval')
STAND_IN = osp.join(osp.dirname(__file__), 'stand_in_package.py')

# transformers 5 removed this one name that VindLU's modeling_bert imports
MODELING_UTILS_5 = '''
from transformers import stub


def __getattr__(name):
    if name == 'apply_chunking_to_forward':
        raise AttributeError(name)
    return stub(name)
'''


def stand_in(root, name, version, files=None):
    """Write the package ``name`` at ``version`` (with its dist-info)."""
    package = root / name
    package.mkdir(parents=True)
    with open(STAND_IN) as f:
        init = f.read()
    (package / '__init__.py').write_text(f'{init}\n__version__ = {version!r}\n')
    for filename, text in (files or {}).items():
        (package / filename).write_text(text)
    dist_info = root / f'{name}-{version}.dist-info'
    dist_info.mkdir()
    (dist_info / 'METADATA').write_text(
        f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    return root


@pytest.fixture
def transformers_5(tmp_path):
    root = stand_in(tmp_path / 'site', 'transformers', '5.0.0',
                    {'modeling_utils.py': MODELING_UTILS_5})
    return stand_in(root, 'timm', '0.9.16')


@pytest.fixture
def transformers_4(tmp_path):
    root = stand_in(tmp_path / 'site', 'transformers', '4.40.0')
    return stand_in(root, 'timm', '0.9.16')


def run_python(code, cwd, site):
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=180)


def last_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_stand_in_5_breaks_mmaction_without_the_guard(tmp_path,
                                                      transformers_5):
    """The stand-in reproduces the failure: only the drn placeholder (loaded
    from its file, so that no other plugin code runs), then mmaction."""
    result = run_python(
        """
        import importlib.util, os.path as osp
        root = importlib.util.find_spec('csn_plugin').submodule_search_locations[0]
        spec = importlib.util.spec_from_file_location(
            'drn_only', osp.join(root, 'compat', 'drn.py'))
        drn = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(drn)
        drn.install_drn_placeholder()
        import mmaction.models
        """, tmp_path, transformers_5)
    assert result.returncode != 0
    assert ("cannot import name 'apply_chunking_to_forward' from "
            "'transformers.modeling_utils'") in result.stderr
    assert 'multimodal/vindlu/modeling_bert.py' in result.stderr


def test_plugin_imports_with_transformers_5(tmp_path, transformers_5):
    result = run_python(
        """
        import json
        import csn_plugin
        import mmaction.models
        import transformers
        from mmaction.registry import MODELS
        from mmaction.utils import dependency
        errors = {}
        for name in %r:
            try:
                MODELS.build(dict(type=name))
            except ImportError as e:
                errors[name] = str(e)
        print(json.dumps(dict(
            transformers=transformers.__file__,
            with_multimodal=dependency.WITH_MULTIMODAL,
            guard=csn_plugin.compat.vindlu.install_vindlu_guard(),
            csn=MODELS.get('ResNet3dCSN').__module__,
            recognizer=MODELS.get('Recognizer3D').__name__,
            errors=errors)))
        """ % (VINDLU_NAMES, ), tmp_path, transformers_5)
    out = last_json(result)
    assert out['transformers'].startswith(str(transformers_5))
    assert out['with_multimodal'] is False
    assert out['guard'] is True
    assert out['csn'] == 'csn_plugin.models.backbones.resnet3d_csn'
    assert out['recognizer'] == 'Recognizer3D'
    assert sorted(out['errors']) == sorted(VINDLU_NAMES)
    for message in out['errors'].values():
        assert 'transformers 5.0.0 is installed' in message
        assert 'Install `transformers<5`' in message
    log = result.stdout + result.stderr
    assert log.count(LOG_LINE) == 1, log


def test_transformers_4_is_left_to_mmaction(tmp_path, transformers_4):
    """With 4.x the guard steps aside: MMAction2 imports and registers its
    own VindLU models, as without the plugin."""
    result = run_python(
        """
        import json
        import csn_plugin
        import mmaction.models
        from mmaction.registry import MODELS
        from mmaction.utils import dependency
        print(json.dumps(dict(
            with_multimodal=dependency.WITH_MULTIMODAL,
            guard=csn_plugin.compat.vindlu.install_vindlu_guard(),
            modules={name: MODELS.get(name).__module__ for name in %r})))
        """ % (VINDLU_NAMES, ), tmp_path, transformers_4)
    out = last_json(result)
    assert out['with_multimodal'] is True
    assert out['guard'] is False
    for name, module in out['modules'].items():
        assert module.startswith('mmaction.models.multimodal.vindlu.'), name
    assert LOG_LINE not in result.stdout + result.stderr


def test_guard_in_this_process():
    """Here the guard ran at import: it skipped VindLU only if the installed
    transformers (read apart from the plugin) is 5 or newer; run again, now
    that mmaction.models is imported, it changes nothing."""
    try:
        major = int(metadata.version('transformers').split('.')[0])
    except metadata.PackageNotFoundError:
        major = None
    assert 'mmaction.models' in sys.modules
    assert install_vindlu_guard() is (major is not None and major >= 5)
