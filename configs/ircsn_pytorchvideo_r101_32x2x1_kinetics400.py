# ir-CSN-101 as PyTorchVideo's hub model `csn_r101`: create_csn(
# model_depth=101, stem_pool=nn.MaxPool3d, head_pool_kernel_size=(4, 7, 7)),
# trained from scratch on Kinetics-400 by PyTorchVideo. Published (PyTorchVideo
# model zoo, PySlowFast, 10 clips x 3 crops of 256x256): 77.0 top-1 /
# 92.9 top-5, 22.21M params; weights:
# https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/CSN_32x2_R101.pyth  # noqa: E501
# Convert and test them (docs/converting_weights.md):
#   python -m csn_plugin.tools.convert pytorchvideo CSN_32x2_R101.pyth \
#       work_dirs/ptv/ircsn_r101_ptv.pth
#   mim test csn_plugin configs/ircsn_pytorchvideo_r101_32x2x1_kinetics400.py \
#       -C work_dirs/ptv/ircsn_r101_ptv.pth --average-clips prob
_base_ = [
    '_base_/models/ircsn_r101.py',
    '_base_/datasets/kinetics400_32x2x1_video.py',
    '_base_/schedules/sgd_58e_finetune.py', '_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

model = dict(
    # PyTorchVideo builds nn.BatchNorm3d with its default eps, 1e-5 (the VMZ
    # models use 1e-3).
    backbone=dict(norm_cfg=dict(eps=1e-5)),
    # Its head averages over a fixed (4, 7, 7) window: on the 256x256 test
    # crops (8x8 features) it averages 2x2 window positions.
    cls_head=dict(
        _delete_=True,
        type='FixedPoolI3DHead',
        num_classes=400,
        in_channels=2048,
        pool_size=(4, 7, 7),
        dropout_ratio=0.5,
        init_std=0.01,
        average_clips='prob'),
    # PySlowFast's input statistics (DATA.MEAN 0.45, DATA.STD 0.225), RGB.
    data_preprocessor=dict(mean=[114.75, 114.75, 114.75],
                           std=[57.375, 57.375, 57.375]))
