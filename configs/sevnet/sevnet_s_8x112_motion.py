# SEVNet ('s' layout) trained from scratch on the generated motion dataset,
# as the quickstart trains ir-CSN-26 (same data, schedule and clips):
#   python -m csn_plugin.tools.make_dataset data/motion \
#       --train-per-class 150 --val-per-class 20 --test-per-class 20
# 8-frame 112x112 clips; AdamW with warm-up and cosine decay over 12 epochs.
# (The paper's SGD schedule, configs/_base_/schedules/sgd_cosine_64e.py, is
# for Something-Something and Kinetics; on this small dataset it stayed at
# chance for 8 epochs.)
_base_ = [
    '../_base_/models/sevnet_s.py',
    '../_base_/datasets/motion_8x112_video.py',
    '../_base_/schedules/adamw_cosine_12e.py',
    '../_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

model = dict(
    cls_head=dict(num_classes=4),  # the generator's default 4 directions
    # The generated videos' pixels spread over 0-255 like natural images'.
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0]))

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(max_keep_ckpts=1, save_best='acc/top1'))
# CPU processes talk over gloo (torchrun / --launcher pytorch).
env_cfg = dict(dist_cfg=dict(backend='gloo'))
