# The quickstart config (configs/ircsn_r26_8x112_motion.py) at depth 50,
# which MMAction2's own ResNet3dCSN can build too, for the `mim test` rows of
# benchmarks/csn_speed.py; 8x112x112 clips of the generated dataset.
_base_ = ['../../configs/ircsn_r26_8x112_motion.py']

model = dict(backbone=dict(depth=50))
