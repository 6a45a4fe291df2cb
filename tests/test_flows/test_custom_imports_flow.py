"""Flow 2: an existing MMAction2 CSN config, shipped inside the installed
mmaction2 package, plus only ``custom_imports`` builds its model on the
plugin's ``ResNet3dCSN``."""
import sys

from flow_helpers import run

MMACTION_CSN = ('mmaction::recognition/csn/ircsn_ig65m-pretrained-r152-'
                'bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb.py')
USER_CONFIG = f"""_base_ = [{MMACTION_CSN!r}]
custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)
"""
# A fresh interpreter that does not import csn_plugin itself: only the
# config can bring it in.
BUILD = """
import sys
from mmengine.config import Config
from mmengine.registry import init_default_scope
print('imported before the config:', 'csn_plugin' in sys.modules)
cfg = Config.fromfile(sys.argv[1])
init_default_scope(cfg.default_scope)
from mmaction.registry import MODELS
backbone = MODELS.build(cfg.model).backbone
print('backbone:', type(backbone).__module__, type(backbone).__name__,
      backbone.depth, backbone.bottleneck_mode, backbone.bn_frozen)
"""


def test_mmaction_config_with_custom_imports(tmp_path):
    config = tmp_path / 'my_ircsn.py'
    config.write_text(USER_CONFIG)
    output = run([sys.executable, '-c', BUILD, config])
    assert 'imported before the config: False' in output
    assert ('backbone: csn_plugin.models.backbones.resnet3d_csn ResNet3dCSN '
            '152 ir True') in output
