# The schedule of the from-scratch recipes on the generated motion dataset
# (the quickstart's): AdamW, lr 1e-3 for a batch of 8, weight decay 1e-4,
# gradient clipping at 40, one epoch of linear warm-up from lr 1e-4, then a
# cosine decay to 0 over 11 epochs, per iteration; validation every epoch.
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=12, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=11, eta_min=0, by_epoch=True,
         begin=1, end=12, convert_to_iter_based=True)
]

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))

# `mim train ... --auto-scale-lr` (or enable=True) scales lr by
# (GPUs x batch per GPU) / base_batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=8)
