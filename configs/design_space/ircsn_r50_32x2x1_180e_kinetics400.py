# ir-CSN-50 trained from scratch on Kinetics-400: the published ir-CSN-152
# recipe (VMZ's input statistics, zero-init residuals) at depth 50.
_base_ = ['../ircsn_r152_32x2x1_180e_kinetics400.py']

model = dict(backbone=dict(depth=50))
