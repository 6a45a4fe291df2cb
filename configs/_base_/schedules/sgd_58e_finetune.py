# Fine-tuning an IG65M- or Sports1M-pretrained CSN on Kinetics-400, as in
# MMAction2's published CSN recipe: 58 epochs, lr 5e-4 for a total batch of
# 96 (8 GPUs x 12 clips), linear warm-up over the first 16 epochs from a
# tenth of it, then x0.1 at epochs 32 and 48.
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=58, val_begin=1, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=16),
    dict(
        type='MultiStepLR',
        begin=0,
        end=58,
        by_epoch=True,
        milestones=[32, 48],
        gamma=0.1)
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=5e-4, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))

# `mim train ... --auto-scale-lr` (or enable=True) scales lr by
# (GPUs x batch per GPU) / base_batch_size.
auto_scale_lr = dict(enable=False, base_batch_size=96)
