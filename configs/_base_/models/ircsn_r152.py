# ir-CSN-152: interaction-reduced CSN (each bottleneck's 3x3x3 conv is
# depthwise), as published by Tran et al., ICCV 2019, for Kinetics-400.
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3dCSN',  # csn_plugin's class (see custom_imports)
        depth=152,
        bottleneck_mode='ir',
        pretrained=None,
        pretrained2d=False,
        with_pool2=False,
        # eps 1e-3 as in the VMZ models; spelled out so that
        # --cfg-options model.backbone.norm_cfg.type=SyncBN keeps it.
        norm_cfg=dict(type='BN3d', requires_grad=True, eps=1e-3),
        norm_eval=False,
        bn_frozen=False,
        zero_init_residual=False),
    cls_head=dict(
        type='I3DHead',
        num_classes=400,
        in_channels=2048,
        spatial_type='avg',
        dropout_ratio=0.5,
        init_std=0.01,
        average_clips='prob'),
    # ImageNet statistics, the IG65M-pretrained models' input normalization;
    # Sports1M-pretrained and from-scratch configs override them with VMZ's.
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'),
    train_cfg=None,
    # Feed at most 10 views (clips x crops) through the network at once.
    test_cfg=dict(max_testing_views=10))
