"""``python -m csn_plugin.tools.convert``: see :mod:`csn_plugin.tools.convert`.
"""
import argparse
import json
import sys

from . import FORMATS, ConversionError, convert


def head_pool(values):
    """``--head-pool``: ``T H W`` or ``global``."""
    if values == ['global']:
        return 'global'
    try:
        window = tuple(int(v) for v in values)
    except ValueError:
        window = ()
    if len(window) != 3 or min(window) < 1:
        raise argparse.ArgumentTypeError(
            f'--head-pool takes three positive sizes T H W or the word '
            f'global, not {" ".join(values)}')
    return window


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m csn_plugin.tools.convert',
        description='Convert VMZ (Caffe2 .pkl, PyTorch .pth) or PyTorchVideo '
        'CSN weights into an MMAction2 Recognizer3D checkpoint that loads '
        'with strict=True into the plugin\'s ResNet3dCSN configs. Prints '
        'every source key used and unused.')
    parser.add_argument('format', choices=sorted(FORMATS),
                        help='vmz-caffe2: VMZ Caffe2 .pkl; vmz: VMZ PyTorch '
                        '.pth; pytorchvideo: create_csn / hub csn_r101')
    parser.add_argument('src', help='source checkpoint')
    parser.add_argument('dst', help='checkpoint to write (.pth)')
    parser.add_argument('--config', metavar='OUT_CONFIG.py',
                        help='also write a config for the source\'s network '
                        '(class count, BN eps, pooling, depth, mode)')
    parser.add_argument('--base-config', metavar='NAME_OR_PATH',
                        help='plugin config to compare with and extend '
                        '(default: the format\'s, e.g. '
                        'ircsn_ig65m_r152_32x2x1_kinetics400.py)')
    stem = parser.add_mutually_exclusive_group()
    stem.add_argument('--stem-pool', dest='with_pool1', action='store_const',
                      const=True, help='the source network has the 1x3x3 '
                      'stem max-pool (VMZ, the hub csn_r101)')
    stem.add_argument('--no-stem-pool', dest='with_pool1',
                      action='store_const', const=False,
                      help='the source network has no stem max-pool '
                      '(create_csn\'s default, VMZ Caffe2 use_pool1=0)')
    parser.add_argument('--head-pool', nargs='+', metavar='SIZE',
                        help='the head\'s fixed average-pooling window '
                        '(create_csn\'s head_pool_kernel_size), or "global"')
    parser.add_argument('--temporal-strides', nargs=4, type=int,
                        metavar='S', help='temporal stride of each of the 4 '
                        'stages (create_csn\'s stage_temporal_stride; VMZ '
                        'and the hub csn_r101: 1 2 2 2)')
    parser.add_argument('--head-activation',
                        choices=['none', 'softmax', 'sigmoid'],
                        help='activation of the head at each window position '
                        '(create_csn\'s head_activation; VMZ and the hub: '
                        'none)')
    parser.add_argument('--create-csn-args', metavar='JSON',
                        help='pytorchvideo: the keyword arguments create_csn '
                        'built the network with, as a JSON object (classes '
                        'by name, e.g. {"stem_pool": "MaxPool3d", '
                        '"stage_temporal_stride": [1, 2, 2, 1], '
                        '"head_activation": "softmax"}); the others take '
                        'create_csn\'s defaults')
    parser.add_argument('--clip-size', nargs=3, type=int, metavar=('T', 'H',
                                                                   'W'),
                        help='the clips the network takes, to check that '
                        'the head\'s window fits their features (default: '
                        'the base config\'s test clip)')
    args = parser.parse_args(argv)
    if args.head_pool is not None:
        try:
            args.head_pool = head_pool(args.head_pool)
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
    if args.create_csn_args is not None:
        try:
            args.create_csn_args = json.loads(args.create_csn_args)
        except ValueError as error:
            parser.error(f'--create-csn-args is not JSON: {error}')
    return args


def given_settings(args):
    """The settings the command line gives (those left out are not
    passed)."""
    given = dict(with_pool1=args.with_pool1,
                 temporal_strides=args.temporal_strides,
                 head_activation=args.head_activation)
    given = {key: value for key, value in given.items() if value is not None}
    if args.head_pool is not None:
        given['head_pool'] = None if args.head_pool == 'global' else \
            args.head_pool
    return given


def main(argv=None):
    args = parse_args(argv)
    try:
        result = convert(
            FORMATS[args.format],
            args.src,
            args.dst,
            config=args.config,
            base_config=args.base_config,
            clip_size=args.clip_size,
            create_csn_args=args.create_csn_args,
            **given_settings(args))
    except ConversionError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print('\n'.join(result.report()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
