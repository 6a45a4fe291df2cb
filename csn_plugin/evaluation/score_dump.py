"""ClassScoreDump: each video's class scores to a file, as MMAction2 0.x's
``tools/test.py --out`` wrote them."""
from mmaction.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump
from mmengine.logging import print_log


@METRICS.register_module()
class ClassScoreDump(BaseMetric):
    """Write the class scores of every video, in dataset order, to a file.

    The file holds a list with one entry per video: its class scores as a
    list of floats (after ``cls_head.average_clips``; one list per view when
    that is None). With ``average_clips='prob'`` each entry sums to 1.
    Computes no metric.

    Args:
        out_file (str): Output path; ``.json``, ``.yaml``/``.yml`` or
            ``.pkl``/``.pickle``.
        collect_device (str): Where results of several processes are
            gathered: ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        collect_dir (str, optional): Folder for gathering on ``'cpu'``.
            Defaults to None (a temporary one).
    """

    SUFFIXES = ('.json', '.yaml', '.yml', '.pkl', '.pickle')
    # It computes no metric; a prefix keeps mmengine from warning that none
    # is set.
    default_prefix = 'scores'

    def __init__(self, out_file, collect_device='cpu', collect_dir=None):
        super().__init__(
            collect_device=collect_device, collect_dir=collect_dir)
        if not out_file.endswith(self.SUFFIXES):
            raise ValueError(f'cannot tell the format of {out_file!r}: end '
                             f'it with one of {", ".join(self.SUFFIXES)}')
        self.out_file = out_file

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            self.results.append(sample['pred_score'].cpu().tolist())

    def compute_metrics(self, results):
        dump(results, self.out_file)
        print_log(f'class scores of {len(results)} videos written to '
                  f'{self.out_file}', logger='current')
        return {}
