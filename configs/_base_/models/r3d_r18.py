# ResNet3D-18: simple blocks (two dense 3x3x3 convs), the baseline of the CSN
# paper's design space (Tran et al., ICCV 2019, Table 1). The other variants
# inherit this file and change the depth, the conv type and the head width.
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='FactorizedResNet3d',  # csn_plugin's (see custom_imports)
        depth=18,
        conv_type='3d',
        pretrained=None,
        with_pool2=False,  # res2..res5 at T, T/2, T/4, T/8 as in the paper
        zero_init_residual=True),
    cls_head=dict(
        type='I3DHead',
        num_classes=400,
        in_channels=512,
        spatial_type='avg',
        dropout_ratio=0.5,
        init_std=0.01,
        average_clips='prob'),
    # VMZ's input statistics, those of its from-scratch models: no weights
    # pretrained elsewhere exist for these networks.
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[110.2008, 100.63983, 95.99475],
        std=[58.14765, 56.46975, 55.332195],
        format_shape='NCTHW'),
    train_cfg=None,
    test_cfg=dict(max_testing_views=10))
