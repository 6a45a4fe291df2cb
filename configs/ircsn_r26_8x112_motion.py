# A small ir-CSN trained from scratch on the generated motion dataset
# (python -m csn_plugin.tools.make_dataset data/motion): the quickstart
# model. ir-CSN-26 at a quarter width (base_channels=16) on 8x112x112 clips;
# about 900 iterations (150 training videos a class, 12 epochs) take it from
# chance to telling the motion directions apart, in a few minutes on 2 CPU
# cores.
_base_ = [
    '_base_/models/ircsn_r152.py', '_base_/datasets/motion_8x112_video.py',
    '_base_/schedules/adamw_cosine_12e.py', '_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

model = dict(
    backbone=dict(depth=26, base_channels=16, zero_init_residual=True),
    cls_head=dict(num_classes=4, in_channels=512),
    # The generated videos' pixels spread over 0-255 like natural images'.
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0]),
    # Batches of several videos at test time: no per-video view chunking.
    test_cfg=None)

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(max_keep_ckpts=1, save_best='acc/top1'))
# CPU processes talk over gloo (torchrun / --launcher pytorch).
env_cfg = dict(dist_cfg=dict(backend='gloo'))
