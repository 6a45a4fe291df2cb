# ir-CSN-50 pretrained on IG-65M, fine-tuned on Kinetics-400 for 58 epochs
# with its BN layers training (ircsn_ig65m_r50_bnfrozen_... freezes them).
# `pretrained` holds OpenMMLab's converted IG-65M ir-CSN-50 weights (as in
# the _bnfrozen_ config). VMZ's own Caffe2 files, the only published source
# of ir-CSN-50 IG-65M weights, convert with the plugin
# (docs/converting_weights.md):
#   python -m csn_plugin.tools.convert vmz-caffe2 \
#       irCSN_50_pretrained_ig65m_f231921860.pkl \
#       work_dirs/vmz/ircsn_r50_ig65m.pth
# fine-tunes from that file with
#   --cfg-options model.backbone.pretrained=work_dirs/vmz/ircsn_r50_ig65m.pth
# and VMZ's Kinetics-400 fine-tuned ir-CSN-50
# (irCSN_50_ft_kinetics_from_ig65m_f233743920.pkl) tests with this config:
#   mim test csn_plugin configs/ircsn_ig65m_r50_32x2x1_kinetics400.py \
#       -C work_dirs/vmz/ircsn_r50_ft_kinetics.pth --average-clips prob
_base_ = ['ircsn_ig65m_r152_32x2x1_kinetics400.py']

model = dict(
    backbone=dict(
        depth=50,
        pretrained='https://download.openmmlab.com/mmaction/recognition/csn/'
        'ircsn_from_scratch_r50_ig65m_20210617-ce545a37.pth'))
