"""Hooks and events: where the tracer attaches to torch, turning torch's calls into the tracer's events.

Uses torch's own hook APIs (global module forward hooks, global optimizer step hooks, a
TorchFunctionMode) plus thin wrappers around `Tensor.backward`, `torch.autograd.backward`,
`Optimizer.__init__`/`zero_grad`, `Module.zero_grad`, `GradScaler.step` and the grad-off
context managers. Nothing here keeps facts: every hook calls one method of the Tracer.
"""
from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from graphlint.trace import frameworks
from graphlint.trace.frames import user_frame


class StopTracing(BaseException):
    """Raised out of a hook after the last traced step; BaseException so `except Exception` lets it pass."""


class Pause:
    """While entered, torch calls skip the function mode entirely (the tracer's own reads); re-entrant."""

    __slots__ = ("on", "_saved")

    def __init__(self):
        self.on = False
        self._saved: list = []

    def __enter__(self) -> None:
        guard = torch._C.DisableTorchFunction()  # no dispatch at all: cheaper than a mode that returns at once
        guard.__enter__()
        self._saved.append((self.on, guard))
        self.on = True

    def __exit__(self, *exc) -> None:
        self.on, guard = self._saved.pop()
        guard.__exit__(*exc)


class _CutMode(TorchFunctionMode):
    """Sees every torch call and hands it to the cut recorder."""

    def __init__(self, tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if kwargs is None:
            kwargs = {}
        out = func(*args, **kwargs)
        tr = self.tracer
        if tr.pause.on or (tr.in_step and not torch.is_grad_enabled()):
            return out  # the tracer's own reads; an optimizer's update arithmetic (a closure's forward is seen)
        try:
            tr.cuts.observe(func, args, kwargs, out)
        except StopTracing:
            raise
        except Exception:  # noqa: BLE001 - instrumentation must never break the user's run
            tr.internal_errors += 1
        return out


def has_closure(opt, args, kwargs) -> bool:
    """Whether step() got a closure (LBFGS style); the hooks' args start with the optimizer itself."""
    rest = args[1:] if args and args[0] is opt else args
    return any(a is not None for a in rest) or kwargs.get("closure") is not None


class Hooks:
    def __init__(self, tracer):
        self.tracer = tracer
        self._handles: list = []
        self._patches: list = []
        self._mode: _CutMode | None = None

    def install(self) -> None:
        from torch.nn.modules import module as module_mod
        from torch.optim import optimizer as optim_mod

        tr = self.tracer
        self._handles += [
            module_mod.register_module_forward_pre_hook(frameworks.outside_compiled_code(
                lambda module, args: tr.roots.forward_entered(module))),
            module_mod.register_module_forward_hook(frameworks.outside_compiled_code(
                lambda module, args, out: tr.roots.forward_left()), always_call=True),
            optim_mod.register_optimizer_step_pre_hook(self._step_pre),
            optim_mod.register_optimizer_step_post_hook(
                lambda opt, args, kwargs: tr.step_ended(opt, has_closure(opt, args, kwargs))),
        ]
        self._patch(torch.Tensor, "backward", self._wrap_backward(torch.Tensor.backward))
        self._patch(torch.autograd, "backward", self._wrap_backward(torch.autograd.backward))
        self._patch(torch.optim.Optimizer, "__init__", self._wrap_opt_init(torch.optim.Optimizer.__init__))
        self._patch(torch.optim.Optimizer, "zero_grad", self._wrap_zero_grad(torch.optim.Optimizer.zero_grad, True))
        self._patch(torch.nn.Module, "zero_grad", self._wrap_zero_grad(torch.nn.Module.zero_grad, False))
        self._patch(torch.amp.GradScaler, "step", self._wrap_scaler_step(torch.amp.GradScaler.step))
        self._patch(torch.Tensor, "register_hook", self._wrap_register_hook(torch.Tensor.register_hook))
        for cls in (torch.autograd.grad_mode.no_grad, torch.autograd.grad_mode.inference_mode):
            self._patch(cls, "__enter__", self._wrap_grad_off_enter(cls.__enter__))
            self._patch(cls, "__exit__", self._wrap_grad_off_exit(cls.__exit__))
        self._mode = _CutMode(tr)
        self._mode.__enter__()

    def uninstall(self) -> None:
        if self._mode is not None:
            try:
                self._mode.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - the mode stack may already be unwound
                pass
            self._mode = None
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for owner, name, old in reversed(self._patches):
            setattr(owner, name, old)
        self._patches.clear()

    def _step_pre(self, opt, args, kwargs):
        """A step began; a closure it got (Lightning's training_step) runs as the user's code, not the step's."""
        self.tracer.step_began(opt, has_closure(opt, args, kwargs))
        return frameworks.closure_as_user_code(self.tracer, opt, args, kwargs)

    def _patch(self, owner, name, new) -> None:
        self._patches.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, new)

    def _wrap_backward(self, orig):
        tracer = self.tracer

        def backward(*args, **kwargs):
            if tracer.in_backward:
                return orig(*args, **kwargs)
            roots = args[0] if args else kwargs.get("tensors", kwargs.get("self"))
            tensors = [roots] if isinstance(roots, torch.Tensor) else list(roots or [])
            site = user_frame()
            tracer.backward_began()
            tracer.in_backward = True
            try:
                result = orig(*args, **kwargs)
            finally:
                tracer.in_backward = False
            tracer.backward_ended(tensors, site)
            return result

        backward.__wrapped__ = orig
        backward.__name__ = orig.__name__
        backward.__doc__ = orig.__doc__
        return backward

    def _wrap_opt_init(self, orig):
        tracer = self.tracer

        def __init__(opt, *args, **kwargs):
            orig(opt, *args, **kwargs)
            tracer.add_optimizer(opt, user_frame())

        __init__.__wrapped__ = orig
        return __init__

    def _wrap_zero_grad(self, orig, is_optimizer: bool):
        tracer = self.tracer

        def zero_grad(obj, *args, **kwargs):
            if not tracer.in_step:
                tracer.zero_grad_called(obj, is_optimizer, user_frame())
            with tracer.pause:
                return orig(obj, *args, **kwargs)

        zero_grad.__wrapped__ = orig
        return zero_grad

    def _wrap_register_hook(self, orig):
        tracer = self.tracer

        def register_hook(tensor, hook):
            # A Parameter's register_hook dispatches through __torch_function__ back to this one: wrap once.
            if (tensor.is_leaf and tensor.requires_grad and not tracer.pause.on
                    and not getattr(hook, "graphlint_watched", False)):
                site = user_frame()
                if site[0] and not frameworks.is_library_file(site[0]):  # a library's own hooks (DDP, FSDP) are not the user's
                    hook = tracer.watch_grad_hook(tensor, hook, site)
            return orig(tensor, hook)

        register_hook.__wrapped__ = orig
        return register_hook

    def _wrap_scaler_step(self, orig):
        tracer = self.tracer

        def step(scaler, optimizer, *args, **kwargs):
            before = tracer.scaler_step_began(scaler, optimizer, user_frame())
            try:
                result = orig(scaler, optimizer, *args, **kwargs)
            except BaseException:  # the script's error, or the stop after --steps inside step()
                tracer.scalers_in_step.pop(id(optimizer), None)
                raise
            tracer.scaler_step_ended(optimizer, before, user_frame())
            return result

        step.__wrapped__ = orig
        return step

    def _wrap_grad_off_enter(self, orig):
        stack = self.tracer.cuts.grad_off_stack

        def __enter__(ctx):
            stack.append(user_frame())
            return orig(ctx)

        return __enter__

    def _wrap_grad_off_exit(self, orig):
        stack = self.tracer.cuts.grad_off_stack

        def __exit__(ctx, *exc):
            if stack:
                stack.pop()
            return orig(ctx, *exc)

        return __exit__
