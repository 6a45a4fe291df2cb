"""Test a recognizer: ``python -m csn_plugin.tools.test CONFIG CHECKPOINT``.

What ``mim test csn_plugin CONFIG -C CHECKPOINT`` runs: mim looks for
``<package>/tools/test.py`` before ``.mim/tools/test.py`` and runs this file
as a script, hence the absolute imports. It takes MMAction2
1.x's test options and the MMAction2 0.x ones that users still type:

* ``--average-clips {score,prob,None}`` sets ``model.cls_head.average_clips``
  (1.x reads it from the config only): ``prob`` averages the softmax of the
  views, so each video's scores sum to 1; ``score`` averages raw scores;
  ``None`` keeps the views apart (no accuracy then; save them with --out).
* ``--eval top_k_accuracy mean_class_accuracy ...`` picks the accuracy
  metrics.
* ``--out result.json`` (``.yaml``, ``.pkl``) writes each video's class
  scores, as 0.x did; 1.x's ``--dump result.pkl`` writes whole predictions.
* ``--backend onnxruntime`` or ``--backend openvino`` tests a model that
  ``csn_plugin.tools.export`` (or ``quantize``) wrote, given as the
  checkpoint (``.onnx``; OpenVINO also reads ``.xml`` IR), with the same
  data, metrics and options (``ExportedRecognizer``).
"""
import argparse

from mmengine.config import ConfigDict
from mmengine.logging import print_log

from csn_plugin.tools.runner_args import (add_runner_args, build_runner,
                                          load_config)

AVERAGE_CLIPS = {'score': 'score', 'prob': 'prob', 'None': None}
#: MMAction2 0.x ``--eval`` names that ``AccMetric`` computes.
EVAL_METRICS = ('top_k_accuracy', 'mean_class_accuracy',
                'mean_average_precision', 'mmit_mean_average_precision')
#: Switches the model to its deploy form (BN folded into the convs) before
#: testing; added when the backbone has ``switch_to_deploy``.
DEPLOY_HOOK = 'SwitchToDeployHook'
BACKENDS = ('pytorch', 'onnxruntime', 'openvino')
#: --compile value -> SwitchToDeployHook(compile=...)
COMPILE = {'auto': 'auto', 'always': True, 'never': False}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) an action recognizer with '
        'csn_plugin loaded.')
    add_runner_args(parser)
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument(
        '--average-clips',
        choices=list(AVERAGE_CLIPS),
        help='how the class scores of a video\'s views (clips x crops) are '
        'combined: prob (mean of softmax; scores sum to 1), score (mean of '
        'raw scores) or None (one score row per view, saved with --out or '
        "--dump; no accuracy); defaults to the config's "
        'model.cls_head.average_clips')
    parser.add_argument(
        '--eval',
        nargs='+',
        choices=EVAL_METRICS,
        metavar='METRIC',
        help='metrics to compute (MMAction2 0.x usage), from: ' +
        ', '.join(EVAL_METRICS))
    parser.add_argument(
        '--out',
        metavar='FILE',
        help='write each video\'s class scores to FILE (.json, .yaml or '
        '.pkl), as MMAction2 0.x did')
    parser.add_argument(
        '--dump',
        metavar='FILE',
        help='dump the predictions (data samples) to a .pkl file for '
        'offline evaluation')
    parser.add_argument(
        '--show-dir',
        help='save drawings of the predictions in this directory')
    parser.add_argument(
        '--show', action='store_true',
        help='show the predictions in a window')
    parser.add_argument(
        '--interval', type=int, default=1,
        help='draw every n-th video (with --show/--show-dir)')
    parser.add_argument(
        '--wait-time', type=float, default=2,
        help='seconds each --show window stays up')
    parser.add_argument(
        '--backend',
        choices=BACKENDS,
        default='pytorch',
        help='what runs the model: pytorch (the checkpoint is a .pth), or '
        'onnxruntime / openvino for an exported model (the checkpoint is '
        'the .onnx file, or OpenVINO IR .xml)')
    parser.add_argument(
        '--no-deploy', action='store_true',
        help='test the network as trained, without folding BN into the '
        'convs first (folding applies only to backbones that support it)')
    parser.add_argument(
        '--compile',
        nargs='?',
        const='always',
        default='auto',
        choices=COMPILE,
        help='how the deployed backbone runs: auto (the default) measures, '
        'once per input shape, the eager deployed modules against the same '
        'through torch.compile (inductor, freezing; CPU or CUDA; it compiles '
        'once, 10-60 s on 2 CPU cores, cached in TORCHINDUCTOR_CACHE_DIR) and '
        'keeps the '
        'faster; always (also plain --compile) compiles; never runs them '
        'eagerly')
    return parser.parse_args(argv)


def set_average_clips(cfg, average_clips):
    head = cfg.model.get('cls_head')
    if head is None:
        raise KeyError('--average-clips needs model.cls_head in the config')
    head.average_clips = AVERAGE_CLIPS[average_clips]


def add_evaluator(cfg, metric):
    """Append ``metric`` to ``cfg.test_evaluator``."""
    evaluators = cfg.test_evaluator
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    cfg.test_evaluator = list(evaluators) + [metric]


def enable_visualization(cfg, args):
    hooks = cfg.setdefault('default_hooks', ConfigDict())
    if hooks.get('visualization') is None:  # MMAction2's configs have none
        hooks.visualization = dict(type='ClipVisualizationHook')
    elif hooks.visualization.type == 'VisualizationHook':
        # MMAction2's fails on 3D recognizers' inputs (mmaction2#2697).
        hooks.visualization.type = 'ClipVisualizationHook'
    hooks.visualization.update(
        enable=True,
        show=args.show,
        out_dir=args.show_dir,
        interval=args.interval,
        wait_time=args.wait_time)


def enable_deploy(cfg, compile=False):
    """Fold BN into convs (and compile) before testing, when the backbone
    can."""
    from mmaction.registry import MODELS
    backbone = MODELS.get(cfg.model.get('backbone', {}).get('type', ''))
    hooks = list(cfg.get('custom_hooks', []))
    if (hasattr(backbone, 'switch_to_deploy')
            and all(hook.get('type') != DEPLOY_HOOK for hook in hooks)):
        cfg.custom_hooks = hooks + [dict(type=DEPLOY_HOOK, compile=compile)]


def use_backend(cfg, backend, model_file):
    """Test ``model_file`` on ``backend`` in place of the config's model:
    the config's data preprocessor, head (for ``average_clips``) and
    ``test_cfg`` (for ``max_testing_views``) stay."""
    model = cfg.model
    cfg.model = dict(
        type='ExportedRecognizer',
        model_file=model_file,
        backend=backend,
        cls_head=model.get('cls_head'),
        data_preprocessor=model.get('data_preprocessor'),
        test_cfg=model.get('test_cfg'))


def apply_test_args(cfg, args):
    """Fold the testing options into ``cfg``."""
    if args.average_clips is not None:
        set_average_clips(cfg, args.average_clips)
    if args.average_clips == 'None':
        # One score row per view: accuracy metrics need one per video.
        if args.eval:
            raise ValueError('--eval needs one score row per video; '
                             '--average-clips None keeps one per view')
        if not (args.out or args.dump):
            raise ValueError('--average-clips None computes no accuracy (the '
                             'views stay apart); add --out FILE or --dump '
                             'FILE.pkl to save the per-view scores')
        print_log('--average-clips None: per-view scores are saved, '
                  'accuracy is not computed', logger='current', level=30)
        cfg.test_evaluator = []
    if args.eval:
        cfg.test_evaluator = dict(
            type='AccMetric', metric_list=tuple(args.eval))
    if args.out:
        add_evaluator(cfg, dict(type='ClassScoreDump', out_file=args.out))
    if args.dump:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump writes a pickle file; end it with .pkl '
                             f'(got {args.dump!r}). For json use --out.')
        add_evaluator(cfg, dict(type='DumpResults', out_file_path=args.dump))
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.backend != 'pytorch':
        use_backend(cfg, args.backend, args.checkpoint)
        return cfg
    if not args.no_deploy:
        enable_deploy(cfg, compile=COMPILE[args.compile])
    cfg.load_from = args.checkpoint
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = apply_test_args(load_config(args), args)
    metrics = build_runner(cfg).test()
    if metrics:
        print_log(
            'test results: ' +
            ', '.join(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}'
                      for k, v in metrics.items()),
            logger='current')
    return metrics


if __name__ == '__main__':
    main()
