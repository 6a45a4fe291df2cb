"""``python -m csn_plugin.tools.convert``: see :mod:`csn_plugin.tools.convert`.
"""
import argparse
import sys

from . import FORMATS, ConversionError, convert


def head_pool(values):
    """``--head-pool``: ``T H W`` or ``global``."""
    if values == ['global']:
        return None
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
    parser.add_argument('--no-stem-pool', action='store_true',
                        help='the source network has no stem max-pool '
                        '(create_csn\'s default, VMZ Caffe2 use_pool1=0)')
    parser.add_argument('--head-pool', nargs='+', metavar='SIZE',
                        help='the head\'s fixed average-pooling window, or '
                        '"global" (default: pytorchvideo 4 7 7, VMZ global)')
    args = parser.parse_args(argv)
    if args.head_pool is not None:
        try:
            args.head_pool = head_pool(args.head_pool)
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
    else:
        args.head_pool = 'default'
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        result = convert(
            FORMATS[args.format],
            args.src,
            args.dst,
            config=args.config,
            base_config=args.base_config,
            with_pool1=not args.no_stem_pool,
            head_pool=args.head_pool)
    except ConversionError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print('\n'.join(result.report()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
