# Training a CSN from scratch for 180 epochs, the length of the VMZ
# from-scratch Kinetics-400 models. MMAction2 ships those models converted
# and publishes no from-scratch recipe (its *-180e configs inherit the
# 58-epoch fine-tuning schedule), so the other values are ours, taken from
# VMZ's training scripts: lr 0.01 for a batch of 32 clips (scaled linearly to
# 0.03 for 96), 10 linear warm-up epochs, momentum 0.9, weight decay 1e-4;
# then a half-cosine decay to zero.
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=180, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=10),
    dict(
        type='CosineAnnealingLR',
        T_max=170,
        eta_min=0,
        by_epoch=True,
        begin=10,
        end=180)
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))

auto_scale_lr = dict(enable=False, base_batch_size=96)
