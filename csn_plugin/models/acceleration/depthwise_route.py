"""Which kernel computes a depthwise 3D conv: Triton's fused kernel or cuDNN.

:func:`depthwise_conv3d_routed` computes ``act(conv(x) + bias [+
residual])`` for any ``nn.Conv3d``'s parameters, by one of two routes that
give the same values:

- ``'triton'``: :func:`.triton_depthwise.depthwise_conv3d`, one kernel for
  conv, bias, residual and ReLU (two more for the backward pass);
- ``'cudnn'``: ``F.conv3d`` (cuDNN on a GPU) and separate bias, add and
  ReLU ops, all public PyTorch.

:func:`route` picks one per call. On a CUDA device, the first time it sees a
key (device, shape, dtype, memory layout, kernel, stride, padding,
dilation, bias, ReLU, residual, and whether gradients are needed) it times
both routes on copies of the inputs (CUDA events, a few warm-up runs, the
median of several) and keeps the faster, logging one INFO line with both
times; later calls with that key take the kept route. Everywhere else it
takes cuDNN's route: on the CPU, for convs the kernel does not compute
(not depthwise with channel multiplier 1, even kernels, string padding,
fp64, a residual in another dtype), while a tracer records the call
(``torch.compile``, TorchScript, ONNX export), during CUDA graph capture,
without Triton installed (the ``gpu`` extra), or with the ``triton`` path
disabled (``CSN_PLUGIN_DISABLE=triton`` or ``disabled('triton')``, see
:mod:`.support`).

Forcing the Triton route, so that CPU CI runs models through the kernels
under Triton's interpreter (``TRITON_INTERPRET=1``): the environment
variable ``CSN_PLUGIN_FORCE=triton``, or ``with forced('triton'): ...``.
A disabled path is never forced.
"""
import statistics
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from . import triton_depthwise
from .support import PathSwitch, enabled, log_once, tracing

__all__ = [
    'DepthwiseRouter', 'FORCE', 'FORCEABLE', 'ROUTER', 'cuda_timer',
    'depthwise_conv3d_routed', 'forced', 'forced_paths', 'route'
]

#: The paths :func:`forced` and ``CSN_PLUGIN_FORCE`` can force.
FORCEABLE = ('triton', )
FORCE_ENV = 'CSN_PLUGIN_FORCE'
#: The dtypes routed to Triton (others take cuDNN's route).
ROUTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)

#: The switch of ``CSN_PLUGIN_FORCE`` and :func:`forced`.
FORCE = PathSwitch(FORCE_ENV, FORCEABLE, 'path(s) to force')


def forced_paths():
    """The paths forced by ``CSN_PLUGIN_FORCE`` or :func:`forced`."""
    return FORCE.paths()


def forced(*paths):
    """Force the given paths (see :data:`FORCEABLE`) inside the ``with``
    block, wherever the kernel can compute the call."""
    return FORCE.scope(*paths, where='forced()')


def cuda_timer(route, fn, warmup=3, reps=10):
    """Median milliseconds of ``fn()`` over ``reps`` runs after ``warmup``
    runs, timed with CUDA events on the current stream. ``route`` names
    what runs (unused here; an injected timer may use it)."""
    for _ in range(warmup):
        fn()
    events = [(torch.cuda.Event(enable_timing=True),
               torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for start, end in events:
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return statistics.median(start.elapsed_time(end) for start, end in events)


def _conv_args(conv_params):
    """``(stride, padding, dilation, groups)`` of an ``nn.Conv3d`` (or any
    object with those attributes) or of a mapping with those keys."""
    get = (conv_params.get if isinstance(conv_params, Mapping) else
           lambda name, default: getattr(conv_params, name, default))
    if get('padding_mode', 'zeros') != 'zeros':
        raise ValueError(
            f"padding_mode={get('padding_mode', None)!r}: both routes pad "
            'with zeros only')
    return (get('stride', 1), get('padding', 0), get('dilation', 1),
            get('groups', 1))


def _layout(x):
    if x.is_contiguous():
        return 'NCDHW'
    if x.is_contiguous(memory_format=torch.channels_last_3d):
        return 'NDHWC'
    return 'strided'


def _needs_grad(*tensors):
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors)


def cudnn_route(x, weight, bias, stride, padding, dilation, groups,
                relu=False, residual=None):
    """``F.conv3d`` (cuDNN on a GPU), then the residual add and the ReLU as
    separate public ops."""
    out = F.conv3d(x, weight, bias, stride, padding, dilation, groups)
    if residual is not None:
        out = out + residual
    return F.relu(out, inplace=True) if relu else out


def triton_route(x, weight, bias, stride, padding, dilation, groups,
                 relu=False, residual=None):
    """:func:`.triton_depthwise.depthwise_conv3d` (``groups`` is the
    channel count there)."""
    return triton_depthwise.depthwise_conv3d(
        x, weight, bias, stride, padding, dilation, relu=relu,
        residual=residual)


ROUTES = {'triton': triton_route, 'cudnn': cudnn_route}


class DepthwiseRouter:
    """Chooses a route per call and remembers, per key, what it measured.

    Args:
        timer (callable, optional): ``timer(route, fn) -> milliseconds``;
            defaults to :func:`cuda_timer`.
        measure_on (tuple[str]): Device types on which the routes are
            measured; elsewhere cuDNN's route runs unless Triton is
            forced. Defaults to ``('cuda',)``.
    """

    def __init__(self, timer=None, measure_on=('cuda', )):
        self.timer = timer or cuda_timer
        self.measure_on = tuple(measure_on)
        #: key -> (route, {route: ms})
        self.choices = {}

    def unsupported(self, x, weight, stride, padding, dilation, groups,
                    residual=None):
        """Why the Triton route cannot take this call, or None."""
        reason = triton_depthwise.problem(x, weight, stride, padding,
                                          dilation, groups)
        if reason is None and x.dtype not in ROUTED_DTYPES:
            reason = f'dtype {x.dtype} is not routed'
        if (reason is None and residual is not None
                and residual.dtype != x.dtype):
            reason = (f'residual in {residual.dtype}, input in {x.dtype}')
        return reason

    def route(self, x, weight, bias, stride, padding, dilation, groups,
              relu=False, residual=None):
        """``'triton'`` or ``'cudnn'`` for this call (see the module's
        docstring)."""
        force = 'triton' in forced_paths()
        if self.unsupported(x, weight, stride, padding, dilation, groups,
                            residual) is not None or tracing():
            return 'cudnn'
        if not enabled('triton'):
            return 'cudnn'
        if force:
            return 'triton'
        if x.device.type not in self.measure_on:
            return 'cudnn'
        if x.device.type == 'cuda' and (
                torch.cuda.is_current_stream_capturing()):
            return 'cudnn'
        if not triton_depthwise.available():
            log_once(('triton', 'missing'),
                     'csn_plugin: Triton is not installed (the gpu extra); '
                     "depthwise convs run as cuDNN's conv and separate ops")
            return 'cudnn'
        grad = _needs_grad(x, weight, bias, residual)
        key = (str(x.device), tuple(x.shape), x.dtype, _layout(x),
               tuple(weight.shape[2:]), *(
                   triton_depthwise._triple(v, name) for v, name in (
                       (stride, 'stride'), (padding, 'padding'),
                       (dilation, 'dilation'))),
               bias is not None, bool(relu), residual is not None, grad)
        if key not in self.choices:
            self.choices[key] = self._measure(
                key, x, weight, bias, (stride, padding, dilation, groups),
                relu, residual, grad)
        return self.choices[key][0]

    def _measure(self, key, x, weight, bias, conv, relu, residual, grad):
        """Time both routes on copies of the inputs; the faster route and
        both times."""
        def copy(t):
            if t is None:
                return None
            c = t.detach().clone(memory_format=torch.preserve_format)
            return c.requires_grad_(grad and t.requires_grad)

        args = [copy(t) for t in (x, weight, bias)]
        res = copy(residual)
        leaves = [t for t in (*args, res) if t is not None and t.requires_grad]
        grad_out = None

        def run(fn):
            def once():
                nonlocal grad_out
                with torch.set_grad_enabled(grad):
                    out = fn(*args, *conv, relu=relu, residual=res)
                    if grad:  # the gradients, without accumulating them
                        if grad_out is None:
                            grad_out = torch.randn_like(out)
                        torch.autograd.grad(out, leaves, grad_out)
            return once

        times = {}
        for name, fn in ROUTES.items():
            try:
                times[name] = float(self.timer(name, run(fn)))
            except Exception as err:  # a kernel this device cannot build
                if name != 'triton':
                    raise
                print_log(f'csn_plugin: the Triton depthwise kernel failed '
                          f'({type(err).__name__}: {err}); cuDNN runs',
                          logger='current', level=30)
                return 'cudnn', times
        choice = min(times, key=times.get)
        device, shape, dtype, layout, kernel, stride, padding, dilation = \
            key[:8]
        extras = ''.join(name for name, on in zip(
            (' +bias', ' +ReLU', ' +residual', ', with gradients'), key[8:])
            if on)
        where = (torch.cuda.get_device_name(x.device)
                 if x.device.type == 'cuda' else device)
        print_log(
            f'csn_plugin: depthwise conv {shape} {str(dtype)[6:]} {layout} '
            f'kernel {kernel} stride {stride} padding {padding} dilation '
            f'{dilation}{extras} on {where}: Triton {times["triton"]:.3f} '
            f'ms, cuDNN {times["cudnn"]:.3f} ms; runs '
            f'{"Triton" if choice == "triton" else "cuDNN"}',
            logger='current')
        return choice, times


#: The router :func:`route` and :func:`depthwise_conv3d_routed` use.
ROUTER = DepthwiseRouter()


def route(x, weight, bias, stride, padding, dilation, groups, relu=False,
          residual=None):
    """:meth:`DepthwiseRouter.route` of :data:`ROUTER`."""
    return ROUTER.route(x, weight, bias, stride, padding, dilation, groups,
                        relu, residual)


def depthwise_conv3d_routed(x, weight, bias, conv_params, relu=False,
                            residual=None, router=None):
    """``act(conv(x, weight) + bias [+ residual])`` by the route
    :func:`route` picks; the same values whichever it takes.

    Args:
        x (Tensor): Input ``(N, C, T, H, W)``.
        weight (Tensor): The conv's weight (BN folded in or not), cast to
            the compute dtype: ``x``'s, or autocast's where autocast is on
            for ``x``'s device (``x`` and ``bias`` are cast likewise, as
            ``F.conv3d`` under autocast does).
        bias (Tensor | None): The conv's bias.
        conv_params (nn.Conv3d | Mapping): Gives ``stride``, ``padding``,
            ``dilation`` and ``groups`` (attributes or keys); its
            ``padding_mode``, if any, must be ``'zeros'``.
        relu (bool): Apply ReLU last.
        residual (Tensor, optional): Added before the ReLU.
        router (DepthwiseRouter, optional): Defaults to :data:`ROUTER`.

    Returns:
        Tensor: In ``x``'s memory layout on the Triton route; in what
        ``F.conv3d`` returns on cuDNN's.
    """
    stride, padding, dilation, groups = _conv_args(conv_params)
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
        if x.is_floating_point() and x.dtype != torch.float64:
            x = x.to(dtype)
    weight = weight.to(x.dtype)
    bias = None if bias is None else bias.to(x.dtype)
    choice = (router or ROUTER).route(x, weight, bias, stride, padding,
                                      dilation, groups, relu, residual)
    return ROUTES[choice](x, weight, bias, stride, padding, dilation, groups,
                          relu=relu, residual=residual)
