# SEVNet ('s' layout) trained from scratch on the generated motion dataset
# (python -m csn_plugin.tools.make_dataset data/motion): 8-frame 112x112
# clips, the paper's SGD + cosine schedule shortened to 8 epochs.
_base_ = [
    '../_base_/models/sevnet_s.py',
    '../_base_/datasets/motion_8x112_video.py',
    '../_base_/schedules/sgd_cosine_64e.py',
    '../_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

model = dict(
    cls_head=dict(num_classes=4),  # the generator's default 4 directions
    # The generated videos' pixels spread over 0-255 like natural images'.
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0]))

train_cfg = dict(max_epochs=8, val_interval=1)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=8,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=8,
        convert_to_iter_based=True)
]
# lr 0.01 for a batch of 8: the paper's lr, on a smaller batch.
auto_scale_lr = dict(enable=False, base_batch_size=8)

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_best='acc/top1'))
# CPU processes talk over gloo (torchrun / --launcher pytorch).
env_cfg = dict(dist_cfg=dict(backend='gloo'))
