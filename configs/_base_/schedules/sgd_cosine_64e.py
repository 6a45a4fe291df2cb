# SEVNet's schedule (Wang & Yang, arXiv 2503.00796): trained from scratch for
# 64 epochs with SGD, lr 0.01 and a cosine schedule. The paper does not give
# the batch size, momentum, weight decay or clipping; ours: lr 0.01 for a
# total batch of 64 (8 GPUs x 8 clips), momentum 0.9, weight decay 1e-4,
# gradient clipping at 40, no warm-up; the cosine decays per iteration.
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=64, val_begin=1, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=64,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=64,
        convert_to_iter_based=True)
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))

# `mim train ... --auto-scale-lr` (or enable=True) scales lr by
# (GPUs x batch per GPU) / base_batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=64)
