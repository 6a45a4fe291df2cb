# ir-CSN-152 trained from scratch on Kinetics-400 for 180 epochs. VMZ's model
# of this recipe scores 76.53 / 92.28 (converted by OpenMMLab):
# https://download.openmmlab.com/mmaction/recognition/csn/vmz/vmz_ircsn_from_scratch_r152_32x2x1_180e_kinetics400_rgb_20210617-5c933ae1.pth  # noqa: E501
_base_ = [
    '_base_/models/ircsn_r152.py',
    '_base_/datasets/kinetics400_32x2x1_video.py',
    '_base_/schedules/sgd_180e_scratch.py', '_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

model = dict(
    # From scratch: zero-init each block's last BN.
    backbone=dict(zero_init_residual=True),
    # VMZ's input statistics.
    data_preprocessor=dict(
        mean=[110.2008, 100.63983, 95.99475],
        std=[58.14765, 56.46975, 55.332195]))
