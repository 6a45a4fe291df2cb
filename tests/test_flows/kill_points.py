"""Test only: a hook that stops training at a chosen point and waits there
to be killed. Configs import it with
``custom_imports = dict(imports=['csn_plugin', 'kill_points'])`` (this
folder on ``PYTHONPATH``)."""
import os
import time

from mmaction.registry import HOOKS
from mmengine.fileio import LocalBackend
from mmengine.hooks import Hook

WAIT_S = 600


def _wait_to_be_killed(marker):
    with open(marker, 'w') as f:
        f.write(str(os.getpid()))
    time.sleep(WAIT_S)
    raise RuntimeError(f'KillPointHook: not killed within {WAIT_S} s')


@HOOKS.register_module()
class KillPointHook(Hook):
    """Write ``marker`` and sleep at a point of epoch ``epoch`` (1-based).

    Args:
        epoch (int): The epoch.
        at (str): ``'iter'``: after its first iteration (mid-epoch);
            ``'save'``: in the middle of writing its checkpoint file, half
            of the bytes on disk.
        marker (str): The file to write when the point is reached.
    """

    priority = 'LOWEST'  # after the logger has logged the iteration

    def __init__(self, epoch, at, marker):
        assert at in ('iter', 'save')
        self.epoch, self.at, self.marker = epoch, at, marker

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if self.at == 'iter' and runner.epoch + 1 == self.epoch \
                and batch_idx == 0:
            _wait_to_be_killed(self.marker)

    def before_save_checkpoint(self, runner, checkpoint):
        if self.at != 'save' or checkpoint['meta']['epoch'] != self.epoch:
            return
        put = LocalBackend.put
        marker = self.marker

        def half_then_wait(backend, obj, filepath):
            LocalBackend.put = put  # once
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
                _wait_to_be_killed(marker)

        LocalBackend.put = half_then_wait
