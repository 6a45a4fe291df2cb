"""The cases of the benchmark and the implementations compared in each.

Every implementation of a case gets the same weights: MMAction2's built-in
``ResNet3dCSN`` is built and initialised first, and the plugin's backbones
load its state dict.
"""
import copy
import os
from dataclasses import dataclass, field

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from csn_plugin.models import ResNet3dCSN as PluginCSN
from csn_plugin.models.acceleration import (CompiledInference, FastestRoute,
                                            native_bf16)
from mmaction.models.backbones.resnet3d_csn import \
    ResNet3dCSN as BuiltinCSN  # replaced in MODELS, not here

#: Backbone arguments of MMAction2's CSN configs
#: (configs/_base_/models/ircsn_r152.py)
MMACTION_CSN = dict(with_pool2=False, norm_eval=False,
                    zero_init_residual=False)
#: ... and of its BN-frozen fine-tuning configs (ircsn_ig65m-pretrained-*-
#: bnfrozen_*.py)
MMACTION_CSN_BNFROZEN = dict(MMACTION_CSN, norm_eval=True, bn_frozen=True)

DTYPES = dict(fp32=torch.float32, bf16=torch.bfloat16, fp16=torch.float16)


@dataclass
class Impl:
    """One row of a case: who runs it and how."""
    label: str
    builtin: bool = False  # MMAction2's class (else the plugin's)
    deploy: bool = False  # switch_to_deploy()
    # torch.compile (inductor, freezing); 'auto': FastestRoute, mim test's
    compile: object = False
    dtype: str = 'fp32'  # autocast dtype unless fp32
    memory_format: str = 'channels_last_3d'


#: the row of mim test's CPU route
MIM_TEST_ROUTE = 'mim test route (deploy, eager or compiled)'
#: the reference row of every case
BUILTIN = Impl('MMAction2', builtin=True)
#: the public compiler on MMAction2's unmodified model: weights in
#: channels_last_3d, inductor with freezing
BUILTIN_COMPILED = Impl('MMAction2 + torch.compile', builtin=True,
                        compile=True)


@dataclass
class Case:
    name: str
    mode: str  # 'infer' or 'train'
    depth: int
    bottleneck_mode: str
    shape: tuple
    backbone_cfg: dict
    impls: list = field(default_factory=list)


def inference_impls(device, compile):
    """MMAction2's model (eager; compiled unless ``compile`` is off) and
    the plugin's inference paths: the val path (eval, plain modules),
    deploy eagerly, deploy compiled and ``mim test``'s route (the faster
    of the two, measured in the warm-up call) unless ``compile`` is off,
    and bf16 where this CPU has it."""
    impls = [BUILTIN]
    if compile:
        impls.append(BUILTIN_COMPILED)
    impls += [Impl('eval'), Impl('deploy', deploy=True)]
    if compile:
        impls += [Impl('deploy + compile', deploy=True, compile=True),
                  Impl(MIM_TEST_ROUTE, deploy=True, compile='auto')]
    if device == 'cuda' or native_bf16():
        impls.append(Impl('deploy, bf16', deploy=True, dtype='bf16'))
    if device == 'cuda':
        impls += [Impl('deploy, contiguous', deploy=True,
                       memory_format='contiguous'),
                  Impl('deploy, fp16', deploy=True, dtype='fp16')]
    return impls


def train_impls(device):
    """MMAction2's model and the plugin's, fp32 and (where this CPU has it)
    bf16 as BF16OptimWrapper runs it."""
    impls = [BUILTIN, Impl('fp32')]
    if device == 'cuda' or native_bf16():
        impls.append(Impl('bf16', dtype='bf16'))
    return impls


def cases_for(quick, device, compile=True):
    """The cases of a run."""
    infer = inference_impls(device, compile)
    train = train_impls(device)
    if quick:
        return [
            Case('ir-CSN-50 inference', 'infer', 50, 'ir',
                 (1, 3, 8, 112, 112), MMACTION_CSN, infer),
            Case('ip-CSN-50 inference', 'infer', 50, 'ip',
                 (1, 3, 8, 112, 112), MMACTION_CSN,
                 [BUILTIN, Impl('deploy', deploy=True)]),
            Case('ir-CSN-50 train step, BN frozen', 'train', 50, 'ir',
                 (2, 3, 8, 64, 64), MMACTION_CSN_BNFROZEN, train),
            Case('ir-CSN-50 train step, BN training', 'train', 50, 'ir',
                 (2, 3, 8, 64, 64), MMACTION_CSN, train[:2]),
        ]
    return [
        Case('ir-CSN-152 inference', 'infer', 152, 'ir',
             (1, 3, 32, 224, 224), MMACTION_CSN, infer),
        Case('ir-CSN-50 inference', 'infer', 50, 'ir', (1, 3, 16, 112, 112),
             MMACTION_CSN, infer),
        Case('ip-CSN-152 inference', 'infer', 152, 'ip',
             (1, 3, 32, 224, 224), MMACTION_CSN,
             [i for i in infer if i.dtype == 'fp32']),
        Case('ir-CSN-50 train step, BN frozen', 'train', 50, 'ir',
             (4, 3, 16, 112, 112), MMACTION_CSN_BNFROZEN, train),
        Case('ir-CSN-50 train step, BN training', 'train', 50, 'ir',
             (4, 3, 16, 112, 112), MMACTION_CSN, train),
    ]


def allow_compiling():
    """Let the compiled rows compile even where the caller's
    ``CSN_PLUGIN_DISABLE`` switches compiling off (the test suite does):
    they are there to measure it."""
    paths = [p for p in os.environ.get('CSN_PLUGIN_DISABLE', '').split(',')
             if p.strip() and p.strip() != 'compile']
    os.environ['CSN_PLUGIN_DISABLE'] = ','.join(paths)


def build_builtin(case):
    return BuiltinCSN(case.depth, None, bottleneck_mode=case.bottleneck_mode,
                      **case.backbone_cfg)


def build_plugin(case, impl, state_dict=None):
    model = PluginCSN(case.depth, bottleneck_mode=case.bottleneck_mode,
                      memory_format=impl.memory_format, **case.backbone_cfg)
    if state_dict is None:
        model.init_weights()
    else:
        model.load_state_dict(state_dict, strict=True)
    return model


@torch.no_grad()
def calibrate(model, shape, seed=0):
    """Weights with the scales of a trained network: random BN affine
    parameters, small ones on the last BN of each residual branch (trained
    ResNets keep their branches small next to the identity path), and
    running statistics of the activations of a random clip. Untouched Kaiming
    weights with unit BN statistics blow activations and gradients up
    through 152 layers, which measures nothing useful."""
    gen = torch.Generator().manual_seed(seed)
    bns = [(name, m) for name, m in model.named_modules()
           if isinstance(m, _BatchNorm)]
    for name, bn in bns:
        gamma = .2 if name.endswith('conv3.bn') else 1.
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batch
        bn.weight.copy_(gamma * (torch.rand(bn.num_features, generator=gen)
                                 + .5))
        bn.bias.copy_(torch.randn(bn.num_features, generator=gen) * .1)
    model.train()
    for _, bn in bns:  # norm_eval models keep BN in eval mode in train()
        bn.train()
    model(torch.randn(shape, generator=gen))
    for _, bn in bns:
        bn.momentum = 0.1
    model.eval()


def builtin_model(case, calibrated=True):
    """MMAction2's backbone of a case, initialised (and calibrated)."""
    builtin = build_builtin(case)
    builtin.init_weights()
    if calibrated:
        n, c, t, h, w = case.shape
        calibrate(builtin, (2, c, min(t, 8), min(h, 112), min(w, 112)))
    return builtin


def prepare(case, impl, builtin, device):
    """The model that runs ``impl``, with the built-in's weights: a copy of
    it (MMAction2's rows) or the plugin's backbone; deployed and compiled as
    ``impl`` says. The built-in is returned as it is for its eager row."""
    if impl.builtin:
        model = copy.deepcopy(builtin) if impl.compile else builtin
        if impl.compile:
            model.to(memory_format=torch.channels_last_3d)
    else:
        model = build_plugin(case, impl, builtin.state_dict())
    model.to(device)
    model.train(case.mode == 'train')
    if impl.deploy:
        model.switch_to_deploy()
    if impl.compile:
        if impl.builtin:
            model = torch.compile(model, dynamic=False,
                                  options=dict(freezing=True))
        elif impl.compile == 'auto':
            model = FastestRoute(model)
        else:
            model = CompiledInference(model)
    return model


def clip_of(case, device):
    """The random input clip of a case."""
    x = torch.randn(case.shape, generator=torch.Generator().manual_seed(1))
    return x.to(device)
