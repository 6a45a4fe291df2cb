"""Switch the model to its inference form before testing."""
from mmaction.registry import HOOKS
from mmengine.hooks import EMAHook, Hook
from mmengine.logging import print_log

from ...models.acceleration import CompiledInference, FastestRoute

__all__ = ['SwitchToDeployHook', 'switch_to_deploy']

#: values of ``SwitchToDeployHook(compile=...)``
COMPILE_CHOICES = (False, True, 'auto')


@HOOKS.register_module()
class SwitchToDeployHook(Hook):
    """Call ``switch_to_deploy()`` on the model's modules before testing
    (and, optionally, compile them).

    The plugin's backbones fold their BatchNorms into the convs there
    (:mod:`csn_plugin.models.acceleration.deploy`), as mmpretrain's
    re-parameterizable backbones (RepVGG, MobileOne) merge their branches.
    Every outermost module of ``runner.model`` that has a
    ``switch_to_deploy`` method and is not deployed yet (no true ``deploy``
    attribute) is switched: its conv units become ``FusedConv3d`` modules and
    its residual blocks ``FusedResidualBlock3d`` modules, visible in
    ``print(model)``. With ``compile=True`` each is then replaced, in its
    parent, by a :class:`~csn_plugin.models.acceleration.CompiledInference`
    that runs it through ``torch.compile`` on the CPU or CUDA (each input
    shape compiles once, and the log says how long it took) and steps aside
    for hooks and gradients; with ``compile='auto'`` (what ``mim test``
    uses) by a :class:`~csn_plugin.models.acceleration.FastestRoute`, which
    measures the eager and the compiled route once per input shape and
    keeps the faster.

    It acts at ``before_test_epoch``, after the checkpoint is loaded, and with
    ``LOW`` priority, after hooks that swap weights in (``NORMAL``). It never
    touches validation during training: a deployed model cannot train again.
    With an ``EMAHook`` it does nothing but warn, since that hook swaps the
    original parameters back after the test epoch, which a folded model no
    longer has.

    Enable it in a config with
    ``custom_hooks = [dict(type='SwitchToDeployHook')]``; the plugin's
    ``tools/test.py`` adds it with ``compile='auto'`` unless ``--no-deploy``
    is given.

    Args:
        compile (bool | str): ``False``: the deployed modules run eagerly;
            ``True``: always through ``torch.compile``; ``'auto'``: the
            faster of the two, measured once per input shape. Defaults to
            False.
    """

    priority = 'LOW'

    def __init__(self, compile=False):
        if compile not in COMPILE_CHOICES:
            raise ValueError(f'compile must be one of {COMPILE_CHOICES}, '
                             f'got {compile!r}')
        self.compile = compile

    def before_test_epoch(self, runner):
        if any(isinstance(hook, EMAHook) for hook in runner.hooks):
            print_log(
                'SwitchToDeployHook: not switching to deploy, because '
                'EMAHook swaps parameters back after testing and a deployed '
                'model has other parameters.',
                logger='current', level=30)
            return
        switched = switch_to_deploy(runner.model, self.compile)
        if switched:
            print_log(
                f'SwitchToDeployHook: switched {", ".join(switched)} to '
                f'deploy mode' + ({
                    True: ', compiled on first use',
                    'auto': ', eager or compiled, whichever is faster '
                    'here (measured on first use)'
                }.get(self.compile, '')) + '.', logger='current')
        elif not any(_deployed(m) for m in runner.model.modules()):
            print_log('SwitchToDeployHook: no module of the model has '
                      'switch_to_deploy(); nothing changed.',
                      logger='current', level=30)


def switch_to_deploy(model, compile=False):
    """Switch the outermost deployable modules of ``model`` that are not
    deployed yet and, with ``compile``, put each in a ``CompiledInference``
    (``True``) or a ``FastestRoute`` (``'auto'``) in its parent.

    Returns:
        list[str]: The names of the modules switched now.
    """
    switched, done = [], []
    for name, module in list(model.named_modules()):
        if any(name.startswith(prefix + '.') for prefix in done):
            continue
        if _deployed(module):
            done.append(name)
        elif callable(getattr(module, 'switch_to_deploy', None)):
            module.switch_to_deploy()
            if not name:  # the model itself
                return [type(module).__name__]
            switched.append(name)
            done.append(name)
            if compile:
                parent_name, _, attr = name.rpartition('.')
                wrapper = (FastestRoute if compile == 'auto' else
                           CompiledInference)
                setattr(model.get_submodule(parent_name), attr,
                        wrapper(module))
    return switched


def _deployed(module):
    return (isinstance(module, (CompiledInference, FastestRoute))
            or getattr(module, 'deploy', False) is True)
