# r3d_r18 trained from scratch on Kinetics-400 (32x2x1 clips, 180 epochs).
_base_ = [
    '../_base_/models/r3d_r18.py',
    '../_base_/datasets/kinetics400_32x2x1_video.py',
    '../_base_/schedules/sgd_180e_scratch.py',
    '../_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)
