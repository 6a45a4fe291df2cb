# SEVNet ('m' layout, 17.3 GMACs) trained from scratch on Something-Something
# V2: 16 uniformly sampled frames, 64 epochs of SGD with a cosine schedule.
_base_ = [
    '../_base_/models/sevnet.py', '../_base_/datasets/sthv2_u16_video.py',
    '../_base_/schedules/sgd_cosine_64e.py', '../_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

# Dropout 0.2 on the large data sets, as in the paper.
model = dict(cls_head=dict(num_classes=174, dropout_ratio=0.2))
