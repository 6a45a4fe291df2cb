# ipcsn_r101 trained from scratch on Kinetics-400 (32x2x1 clips, 180 epochs).
_base_ = [
    '../_base_/models/ipcsn_r101.py',
    '../_base_/datasets/kinetics400_32x2x1_video.py',
    '../_base_/schedules/sgd_180e_scratch.py',
    '../_base_/default_runtime.py'
]

custom_imports = dict(imports=['csn_plugin'], allow_failed_imports=False)

# VMZ's input statistics, as in the from-scratch ip/ir-CSN-152 recipes
# (ResNet3dCSN's model files keep ImageNet's for the IG-65M weights).
model = dict(
    data_preprocessor=dict(
        mean=[110.2008, 100.63983, 95.99475],
        std=[58.14765, 56.46975, 55.332195]))
