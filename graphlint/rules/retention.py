"""Graphs kept alive across training iterations."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.engine.tree import walk
from graphlint.engine.values import Kind
from graphlint.rules import Report, Rule, register


@register
class GraphKeptAcrossIterations(Rule):
    code = "GL401"

    def check(self, analysis) -> Iterator[Report]:
        flow, losses, values = analysis.flow, analysis.losses, analysis.values
        training_loops = analysis.steps.training_loops
        for acc in flow.accumulations:
            if not any(values.kind(expr, acc.ctx, value) is Kind.GRAPH for expr, value in acc.added):
                continue
            mod = acc.ctx.module
            target_nodes = flow.versions(flow.var_node(acc.target, acc.ctx)) if isinstance(acc.target, cst.Name) \
                else flow.eval(acc.target, acc.ctx).nodes
            if target_nodes & losses.reaches_loss:
                continue  # accumulated on purpose, then backpropagated (gradient accumulation by summing)
            if not (self._persistent_attribute(acc, mod, training_loops, flow) or
                    self._outlives_loop(acc, mod, training_loops, flow)):
                continue
            what = mod.code(acc.site)
            yield Report(acc.site, f"`{what}` keeps a tensor that still carries its autograd graph, so every "
                         "iteration's graph stays in memory and usage grows each step. Accumulate `loss.item()` or "
                         "`loss.detach()` instead.", module=mod)

    @staticmethod
    def _persistent_attribute(acc, mod, training_loops, flow) -> bool:
        """`self.total += x` outside forward(), where it happens every iteration: in a training loop, in a step
        hook (`training_step`, `on_train_batch_end`), or in a method called from a loop. The object outlives
        the step; a one-off setup method keeping something is not an iteration's graph, nor a list the method
        makes afresh on every call (`self.predictions = []` before its loop)."""
        target = acc.target
        fn = acc.ctx.function
        if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self"
                and fn is not None and fn.name.value not in ("forward", "__init__", "__call__")):
            return False
        if _made_afresh(fn, target):
            return False
        return any(a is t for a in mod.ancestors(acc.site) for t in training_loops) or \
            _runs_every_iteration(flow, mod, fn)

    @staticmethod
    def _outlives_loop(acc, mod, training_loops, flow) -> bool:
        """A name that keeps growing from one training iteration to the next: a running total or a list bound
        outside the training loop (not made afresh in its body, even around an inner loop), or a list of outputs
        collected batch after batch (an evaluation loop without no_grad) -- not one that counts (`for i in range(k)`,
        a differentiable top-k inside one forward) or goes over a literal handful of items."""
        if not isinstance(acc.target, cst.Name):
            return False
        loops = []  # enclosing loops of this function, innermost first
        for a in mod.ancestors(acc.site):
            if isinstance(a, (cst.FunctionDef, cst.Lambda)):
                break
            if isinstance(a, (cst.For, cst.While)):
                loops.append(a)
        if not loops:
            return False
        training = next((loop for loop in loops if any(loop is t for t in training_loops)), None)
        if training is None:
            fn = acc.ctx.function
            if not isinstance(acc.site, cst.Call) or not flow.sinks or fn is None or fn.name.value in ("forward", "__call__") \
                    or acc.ctx.cls is not None and acc.ctx.cls.node.name.value in mod.module_classes \
                    or _only_called_without_grad(flow, mod, fn) or not _iterates_data(loops[0]):
                return False
        name = acc.target.value
        # a worklist (`stack.extend(...)` and `stack.pop()` in one loop) does not grow with the iterations
        worklist = any(isinstance(c.func, cst.Attribute) and c.func.attr.value in ("pop", "popleft") and
                       isinstance(c.func.value, cst.Name) and c.func.value.value == name for c in walk(loops[0], cst.Call))
        return not _made_afresh(training or loops[0], acc.target) and not worklist


STEP_HOOK_SUFFIXES = ("_step", "_step_end", "_batch_start", "_batch_end", "_epoch_end")
# Hooks of evaluation loops, which frameworks run without grad: by name they say nothing about training steps.
EVAL_HOOK_PREFIXES = ("validation_", "val_", "test_", "predict_", "on_validation_", "on_test_", "on_predict_")


def _runs_every_iteration(flow, mod, fn, depth: int = 0) -> bool:
    """A framework's per-step training hook, or a function called in a loop of the file (directly or through others)."""
    if fn.name.value.endswith(STEP_HOOK_SUFFIXES) and not fn.name.value.startswith(EVAL_HOOK_PREFIXES):
        return True
    if depth > 2:
        return False
    for call, ctx in flow.call_sites(mod, fn):
        if any(isinstance(a, (cst.For, cst.While)) for a in ctx.module.ancestors(call)):
            return True
        if ctx.function is not None and _runs_every_iteration(flow, ctx.module, ctx.function, depth + 1):
            return True
    return False


def _only_called_without_grad(flow, mod, fn) -> bool:
    """Every call of ``fn`` in the file sits in a `with torch.no_grad()` block or a `@torch.no_grad()` function
    (or there is none to see)."""
    from graphlint.engine import names

    sites = flow.call_sites(mod, fn)
    if not sites:
        return True
    return all(any(isinstance(a, cst.With) and any(mod.is_any(i.item, names.NO_GRAD_CONTEXTS) for i in a.items) or
                   isinstance(a, cst.FunctionDef) and any(mod.is_any(d.decorator, names.NO_GRAD_CONTEXTS)
                                                          for d in a.decorators)
                   for a in mod.ancestors(call)) for call, _ in sites)


def _made_afresh(scope: cst.For | cst.While | cst.FunctionDef, target: cst.BaseExpression) -> bool:
    """The body of a loop or function (inner loops included) binds `xs` / `self.xs` anew or empties it: `xs = []`,
    `xs: list = []`, `xs.clear()`, `del xs[:]`."""
    body = scope.body
    targets = [t.target for a in walk(body, cst.Assign) for t in a.targets] + [a.target for a in walk(body, cst.AnnAssign)]
    if any(_same(n, target) for t in targets for n in _bound_names(t)):
        return True
    cleared = any(isinstance(c.func, cst.Attribute) and c.func.attr.value == "clear" and _same(c.func.value, target)
                  for c in walk(body, cst.Call))
    deleted = any(isinstance(d.target, cst.Subscript) and _same(d.target.value, target) for d in walk(body, cst.Del))
    return cleared or deleted


def _same(expr: cst.BaseExpression, target: cst.BaseExpression) -> bool:
    """The same name, or the same `self.<attr>`."""
    if isinstance(expr, cst.Name) and isinstance(target, cst.Name):
        return expr.value == target.value
    return isinstance(expr, cst.Attribute) and isinstance(target, cst.Attribute) and expr.attr.value == target.attr.value \
        and isinstance(expr.value, cst.Name) and isinstance(target.value, cst.Name) and expr.value.value == target.value.value


def _iterates_data(loop: cst.For | cst.While) -> bool:
    """A `for` over batches or samples (a loader, a dataset, a tensor's rows), not over a count (`range(k)`,
    `enumerate(range(k))`) or a literal handful of items."""
    if not isinstance(loop, cst.For):
        return False
    iterable = loop.iter
    while isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) and \
            iterable.func.value in ("enumerate", "zip", "reversed", "list", "tuple") and iterable.args:
        iterable = iterable.args[0].value
    counts = isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) and iterable.func.value == "range"
    return not counts and not isinstance(iterable, (cst.Tuple, cst.List, cst.Set))


def _bound_names(target: cst.BaseExpression):
    """The expressions an assignment target binds: itself, or each element of `a, (b, c) = ...`."""
    if isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _bound_names(element.value)
    else:
        yield target
