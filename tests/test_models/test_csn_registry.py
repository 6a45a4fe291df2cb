"""``ResNet3dCSN`` in ``mmaction.registry.MODELS`` is the plugin's class,
whichever of ``csn_plugin`` and ``mmaction.models`` is imported first.

Each case runs in a fresh interpreter, since the import order is the point.
"""
import os.path as osp
import subprocess
import sys
import tempfile

import pytest
from csn_reference import MMACTION_CSN_CONFIG_DIR

PLUGIN = 'csn_plugin.models.backbones.resnet3d_csn'
BUILTIN = 'mmaction.models.backbones.resnet3d_csn'
LOG_LINE = "replaces MMAction2's built-in"

# The mmaction2 1.2.0 wheel lacks models/localizers/drn
# (open-mmlab/mmaction2#2714), so on it `import mmaction.models` fails until
# csn_plugin has put its placeholder there. To import mmaction.models FIRST,
# as a from-source mmaction2 allows, the subprocess stands in for the missing
# package the way a source install provides it: a real module object.
DRN_STAND_IN = '''
import importlib.util, os.path as osp, sys, types
root = list(importlib.util.find_spec('mmaction').submodule_search_locations)[0]
if not osp.isdir(osp.join(root, 'models', 'localizers', 'drn')):
    pkg = types.ModuleType('mmaction.models.localizers.drn')
    pkg.__path__ = []
    mod = types.ModuleType('mmaction.models.localizers.drn.drn')
    class DRN:
        pass
    mod.DRN = pkg.DRN = DRN
    pkg.drn = mod
    sys.modules[pkg.__name__] = pkg
    sys.modules[mod.__name__] = mod
'''


def run_python(code, *args):
    """Run ``code`` in a fresh interpreter; return (stdout+stderr, lines of
    stdout that start with ``RESULT``).

    It runs outside the repository, so that ``-c`` (which puts the working
    folder first on ``sys.path``) imports the installed csn_plugin.
    """
    proc = subprocess.run([sys.executable, '-c', code, *args],
                          capture_output=True,
                          text=True,
                          cwd=tempfile.gettempdir(),
                          timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    results = [
        line.split(' ', 1)[1] for line in proc.stdout.splitlines()
        if line.startswith('RESULT ')
    ]
    return output, results


PLUGIN_FIRST = '''
import csn_plugin
from mmaction.registry import MODELS
m = MODELS.build(dict(type='ResNet3dCSN', depth=50, pretrained=None))
print('RESULT', type(m).__module__)
import mmaction.models
from mmaction.models.backbones.resnet3d_csn import ResNet3dCSN as Builtin
print('RESULT', MODELS.get('ResNet3dCSN').__module__)
print('RESULT', MODELS.get('ResNet3dCSN') is not Builtin)
from mmaction.utils import register_all_modules
register_all_modules(init_default_scope=True)
m = MODELS.build(dict(type='ResNet3dCSN', depth=50, pretrained=None))
print('RESULT', type(m).__module__)
'''

BUILTIN_FIRST = DRN_STAND_IN + '''
import mmaction.models
from mmaction.registry import MODELS
print('RESULT', MODELS.get('ResNet3dCSN').__module__)
import csn_plugin
m = MODELS.build(dict(type='ResNet3dCSN', depth=50, pretrained=None))
print('RESULT', type(m).__module__)
print('RESULT', MODELS.get('ResNet3dCSN') is csn_plugin.models.ResNet3dCSN)
'''


# A user's config: MMAction2's ir-CSN-50 config plus custom_imports, the
# route of `mim train mmaction ...`. Nothing imports csn_plugin but the
# config.
CUSTOM_IMPORTS = '''
import sys
from mmengine.config import Config
from mmengine.registry import init_default_scope
cfg = Config.fromfile(sys.argv[1])
init_default_scope(cfg.default_scope)
from mmaction.registry import MODELS
model = MODELS.build(cfg.model)
print('RESULT', type(model.backbone).__module__)
print('RESULT', model.backbone.depth, model.backbone.bn_frozen)
'''

USER_CONFIG = '''
_base_ = [{base!r}]
custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)
'''


@pytest.fixture(scope='module')
def plugin_first():
    return run_python(PLUGIN_FIRST)


@pytest.fixture(scope='module')
def builtin_first():
    return run_python(BUILTIN_FIRST)


@pytest.fixture(scope='module')
def custom_imports(tmp_path_factory):
    base = osp.join(
        MMACTION_CSN_CONFIG_DIR,
        'ircsn_ig65m-pretrained-r50-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb'
        '.py')
    assert osp.isfile(base)
    path = tmp_path_factory.mktemp('user_config') / 'my_ircsn_r50.py'
    path.write_text(USER_CONFIG.format(base=base))
    return run_python(CUSTOM_IMPORTS, str(path))


def test_plugin_imported_first(plugin_first):
    _, results = plugin_first
    # built through the registry right away, after a later
    # `import mmaction.models`, and after register_all_modules()
    assert results == [PLUGIN, PLUGIN, 'True', PLUGIN]


def test_mmaction_models_imported_first(builtin_first):
    _, results = builtin_first
    # the built-in is registered until csn_plugin arrives, then replaced
    assert results == [BUILTIN, PLUGIN, 'True']


def test_config_custom_imports(custom_imports):
    _, results = custom_imports
    assert results == [PLUGIN, '50 True']


@pytest.mark.parametrize('case',
                         ['plugin_first', 'builtin_first', 'custom_imports'])
def test_replacement_logged_once(case, request):
    output, _ = request.getfixturevalue(case)
    lines = [line for line in output.splitlines() if LOG_LINE in line]
    assert len(lines) == 1, output
    assert 'INFO' in lines[0]
    assert f'{PLUGIN}.ResNet3dCSN' in lines[0]
    assert f'{BUILTIN}.ResNet3dCSN' in lines[0]
