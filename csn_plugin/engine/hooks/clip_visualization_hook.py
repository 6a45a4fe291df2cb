"""MMAction2's VisualizationHook, working for 3D recognizers."""
from mmaction.engine.hooks import VisualizationHook
from mmaction.registry import HOOKS


@HOOKS.register_module()
class ClipVisualizationHook(VisualizationHook):
    """Draw test and validation predictions of 3D recognizers.

    Two fixes to MMAction2 1.2.0's ``VisualizationHook``, which fails on the
    first video it draws:

    * A 3D recognizer's input is ``(views, C, T, H, W)`` a video (clips x
      crops after ``FormatShape('NCTHW')``); the hook permutes it as one
      ``(C, T, H, W)`` clip (open-mmlab/mmaction2#2697). Here the first view
      of each video is drawn, with the prediction for the whole video.
    * It passes ``show`` to ``ActionVisualizer.add_datasample``, whose
      argument is ``show_frames``.

    Args:
        enable (bool): Whether to draw. Defaults to False.
        interval (int): Draw every ``interval``-th video. Defaults to 5000.
        show (bool): Show the frames in a window. Defaults to False.
        out_dir (str, optional): Save the drawings here rather than to the
            visualizer's backends. Defaults to None.
        **kwargs: Further arguments of ``ActionVisualizer.add_datasample``.
    """

    def __init__(self,
                 enable=False,
                 interval=5000,
                 show=False,
                 out_dir=None,
                 **kwargs):
        super().__init__(enable, interval, show, out_dir, **kwargs)
        self.draw_args = dict(kwargs, show_frames=show)

    def _draw_samples(self, batch_idx, data_batch, data_samples, step=0):
        first_views = [
            video[0] if video.dim() == 5 else video
            for video in data_batch['inputs']
        ]
        super()._draw_samples(batch_idx, dict(data_batch, inputs=first_views),
                              data_samples, step)
