# ir-CSN-152 trained from scratch on Sports-1M (487 classes): how the
# Sports-1M-pretrained weights that the *_sports1m_* Kinetics configs start
# from were made (VMZ, in Caffe2).
_base_ = [
    '_base_/models/ircsn_r152.py', '_base_/datasets/sports1m_32x2x1_video.py',
    '_base_/schedules/sgd_180e_scratch.py', '_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

model = dict(
    backbone=dict(zero_init_residual=True),
    cls_head=dict(num_classes=487),
    # VMZ's input statistics.
    data_preprocessor=dict(
        mean=[110.2008, 100.63983, 95.99475],
        std=[58.14765, 56.46975, 55.332195]))
