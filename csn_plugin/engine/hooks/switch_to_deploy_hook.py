"""Switch the model to its inference form before testing."""
from mmaction.registry import HOOKS
from mmengine.hooks import EMAHook, Hook
from mmengine.logging import print_log


@HOOKS.register_module()
class SwitchToDeployHook(Hook):
    """Call ``switch_to_deploy()`` on the model's modules before testing.

    The plugin's backbones fold their BatchNorms into the convs there
    (:meth:`FactorizedResNet3d.switch_to_deploy`), as mmpretrain's
    re-parameterizable backbones (RepVGG, MobileOne) merge their branches.
    Every outermost module of ``runner.model`` that has a ``switch_to_deploy``
    method and is not deployed yet (no true ``deploy`` attribute) is
    switched.

    It acts at ``before_test_epoch``, after the checkpoint is loaded, and with
    ``LOW`` priority, after hooks that swap weights in (``NORMAL``). It never
    touches validation during training: a deployed model cannot train again.
    With an ``EMAHook`` it does nothing but warn, since that hook swaps the
    original parameters back after the test epoch, which a folded model no
    longer has.

    Enable it in a config with
    ``custom_hooks = [dict(type='SwitchToDeployHook')]``; the plugin's
    ``tools/test.py`` adds it unless ``--no-deploy`` is given.
    """

    priority = 'LOW'

    def before_test_epoch(self, runner):
        if any(isinstance(hook, EMAHook) for hook in runner.hooks):
            print_log(
                'SwitchToDeployHook: not switching to deploy, because '
                'EMAHook swaps parameters back after testing and a deployed '
                'model has other parameters.',
                logger='current', level=30)
            return
        switched = switch_to_deploy(runner.model)
        if switched:
            print_log(f'SwitchToDeployHook: switched {", ".join(switched)} '
                      f'to deploy mode.', logger='current')
        else:
            print_log('SwitchToDeployHook: no module of the model has '
                      'switch_to_deploy(); nothing changed.',
                      logger='current', level=30)


def switch_to_deploy(model):
    """Switch the outermost deployable modules of ``model``; return their
    names."""
    switched = []
    for name, module in model.named_modules():
        if any(name.startswith(done + '.') for done in switched):
            continue
        if (callable(getattr(module, 'switch_to_deploy', None))
                and not getattr(module, 'deploy', False)):
            module.switch_to_deploy()
            switched.append(name or type(module).__name__)
    return switched
