"""csn_plugin.tools.test folds its options into the config as documented."""
import os.path as osp

import mmaction
import pytest
from mmaction.registry import MODELS
from mmengine.config import Config

from csn_plugin.models import ResNet3dCSN
from csn_plugin.tools.test import apply_test_args, parse_args
from csn_plugin.tools.runner_args import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MOTION = osp.join(REPO, 'configs', 'ircsn_r26_8x112_motion.py')
MMACTION_CSN = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition', 'csn',
    'ircsn_ig65m-pretrained-r152_8xb12-32x2x1-58e_kinetics400-rgb.py')


def configure(*argv, config=MOTION):
    args = parse_args([config, 'ckpt.pth', *argv])
    return apply_test_args(load_config(args), args)


def evaluator_types(cfg):
    evaluators = cfg.test_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    return [e['type'] for e in evaluators]


def test_defaults():
    cfg = configure()
    assert cfg.load_from == 'ckpt.pth'
    assert cfg.launcher == 'none'
    assert cfg.work_dir == osp.join('./work_dirs', 'ircsn_r26_8x112_motion')
    assert cfg.model.cls_head.average_clips == 'prob'
    assert evaluator_types(cfg) == ['AccMetric']


@pytest.mark.parametrize('value, expected', [('prob', 'prob'),
                                             ('score', 'score')])
def test_average_clips(value, expected):
    cfg = configure('--average-clips', value)
    assert cfg.model.cls_head.average_clips == expected


def test_average_clips_wins_over_cfg_options():
    cfg = configure('--cfg-options', 'model.cls_head.average_clips=score',
                    '--average-clips', 'prob')
    assert cfg.model.cls_head.average_clips == 'prob'


def test_average_clips_none_saves_views_only():
    cfg = configure('--average-clips', 'None', '--out', 'views.json')
    assert cfg.model.cls_head.average_clips is None
    assert evaluator_types(cfg) == ['ClassScoreDump']


@pytest.mark.parametrize('argv, message', [
    (('--average-clips', 'None'), 'add --out FILE or --dump'),
    (('--average-clips', 'None', '--out', 'a.json', '--eval',
      'top_k_accuracy'), 'one score row per video'),
    (('--dump', 'result.json'), 'end it with .pkl'),
])
def test_bad_combinations_are_refused(argv, message):
    with pytest.raises(ValueError, match=message):
        configure(*argv)


def test_0x_eval_and_out():
    cfg = configure('--eval', 'top_k_accuracy', 'mean_class_accuracy',
                    '--out', 'result.json', '--dump', 'result.pkl')
    assert evaluator_types(cfg) == ['AccMetric', 'ClassScoreDump',
                                    'DumpResults']
    assert cfg.test_evaluator[0].metric_list == ('top_k_accuracy',
                                                 'mean_class_accuracy')
    assert cfg.test_evaluator[1].out_file == 'result.json'
    assert cfg.test_evaluator[2].out_file_path == 'result.pkl'


def test_unknown_eval_metric_is_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args([MOTION, 'ckpt.pth', '--eval', 'accuracy'])
    assert "invalid choice: 'accuracy'" in capsys.readouterr().err


def test_show_dir_enables_visualization():
    cfg = configure('--show-dir', 'vis', '--interval', '3')
    hook = cfg.default_hooks.visualization
    assert (hook.enable, hook.out_dir, hook.interval, hook.show) == (True,
                                                                     'vis', 3,
                                                                     False)


def test_show_dir_adds_visualization_hook():
    """MMAction2's own configs have no VisualizationHook; it is added."""
    cfg = configure(
        '--show-dir', 'vis', config=MMACTION_CSN)
    assert cfg.default_hooks.visualization.type == 'ClipVisualizationHook'
    assert cfg.default_hooks.visualization.enable


def test_deploy_hook_only_for_backbones_that_can():
    assert hasattr(ResNet3dCSN, 'switch_to_deploy')
    hooks = [h['type'] for h in configure().get('custom_hooks', [])]
    assert 'SwitchToDeployHook' in hooks
    # MMAction2's ResNet3d cannot deploy: no hook
    cfg = configure('--cfg-options', 'model.backbone.type=ResNet3d')
    assert 'SwitchToDeployHook' not in [
        h['type'] for h in cfg.get('custom_hooks', [])]
    hooks = [h['type'] for h in configure('--no-deploy').get('custom_hooks',
                                                             [])]
    assert 'SwitchToDeployHook' not in hooks


def test_deploy_hook_added_for_a_deployable_backbone():

    class DeployableCSN(ResNet3dCSN):

        def switch_to_deploy(self):
            pass

    MODELS.register_module(name='DeployableCSNForTest', module=DeployableCSN,
                           force=True)
    try:
        cfg = configure('--cfg-options',
                        'model.backbone.type=DeployableCSNForTest')
        assert dict(type='SwitchToDeployHook',
                    compile='auto') in cfg.custom_hooks
        for option, compile in ((['--compile'], True),
                                (['--compile', 'always'], True),
                                (['--compile', 'never'], False),
                                (['--compile', 'auto'], 'auto')):
            cfg = configure(*option, '--cfg-options',
                            'model.backbone.type=DeployableCSNForTest')
            assert dict(type='SwitchToDeployHook',
                        compile=compile) in cfg.custom_hooks
        cfg = configure('--no-deploy', '--cfg-options',
                        'model.backbone.type=DeployableCSNForTest')
        assert 'SwitchToDeployHook' not in [
            h['type'] for h in cfg.get('custom_hooks', [])]
    finally:
        MODELS.module_dict.pop('DeployableCSNForTest')


def test_deploy_hook_in_the_config_is_not_added_twice(tmp_path):
    """A config that already has SwitchToDeployHook (as docs/performance.md
    shows) keeps exactly one."""
    config = tmp_path / 'with_hook.py'
    config.write_text(f'_base_ = [{MOTION!r}]\n'
                      "custom_hooks = [dict(type='SwitchToDeployHook')]\n")
    hooks = [h['type'] for h in configure(config=str(config)).custom_hooks]
    assert hooks.count('SwitchToDeployHook') == 1


def test_show_dir_without_default_hooks(tmp_path):
    """A config with no default_hooks at all gets the visualization hook."""
    settings = Config.fromfile(MOTION).to_dict()
    del settings['default_hooks']
    config = str(tmp_path / 'no_default_hooks.py')
    Config(settings).dump(config)
    assert 'default_hooks' not in configure(config=config)
    cfg = configure('--show-dir', 'vis', config=config)
    assert cfg.default_hooks.visualization.type == 'ClipVisualizationHook'
    assert cfg.default_hooks.visualization.out_dir == 'vis'


def test_missing_config_is_named():
    args = parse_args(['nope.py', 'ckpt.pth'])
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_config(args)


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_backend_tests_the_exported_model(backend):
    """The exported file replaces the model; the config's data
    preprocessor, head and test_cfg stay; no checkpoint, no BN folding."""
    args = parse_args([MOTION, 'model.onnx', '--backend', backend,
                       '--average-clips', 'score'])
    original = load_config(args)
    cfg = apply_test_args(load_config(args), args)
    assert cfg.model == dict(
        type='ExportedRecognizer', model_file='model.onnx', backend=backend,
        cls_head=dict(original.model.cls_head, average_clips='score'),
        data_preprocessor=original.model.data_preprocessor,
        test_cfg=original.model.test_cfg)
    assert cfg.get('load_from') is None
    assert 'SwitchToDeployHook' not in [
        h['type'] for h in cfg.get('custom_hooks', [])]
