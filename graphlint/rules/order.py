"""Rules about the order of backward, zero_grad, gradient edits and the optimizer step."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.engine.steps import BACKWARD, GRAD_EDIT, STEP, ZERO_GRAD, Body, Event
from graphlint.engine.tree import walk
from graphlint.findings import Severity
from graphlint.rules import Related, Report, Rule, register


def events_before(body: Body, step: Event) -> list[Event]:
    """Events that run before ``step`` in one iteration, nearest first (a loop wraps around)."""
    index = body.events.index(step)
    before = body.events[:index][::-1]
    if body.is_loop:
        before += body.events[index + 1:][::-1]
    return before


def plain_steps(body: Body) -> list[Event]:
    """Optimizer steps that rely on gradients already in `.grad` (not LBFGS-style closures)."""
    return [e for e in body.of(STEP) if e.closure is None]


@register
class ZeroGradBeforeStep(Rule):
    code = "GL201"
    name = "zero-grad-between-backward-and-step"
    category = "zero-grad-order"
    summary = "zero_grad() runs after backward() and before step(), so the step sees no gradients."

    def check(self, analysis) -> Iterator[Report]:
        for body in analysis.steps.bodies:
            if not body.of(BACKWARD):
                continue
            for step in plain_steps(body):
                nearest = next((e for e in events_before(body, step) if e.kind in (BACKWARD, ZERO_GRAD)), None)
                if nearest is not None and nearest.kind == ZERO_GRAD:
                    mod = nearest.module
                    yield Report(nearest.node, f"`{mod.code(nearest.node)}` clears the gradients right before "
                                 f"`{step.module.code(step.node)}` (line {step.module.line(step.node)}): the step "
                                 "sees no gradients from this iteration's backward(). Call zero_grad() before the "
                                 "forward pass or after step().",
                                 (Related(step.node, "the optimizer step that gets no gradients", step.module),),
                                 module=mod)


@register
class GradientsWipedBeforeStep(Rule):
    code = "GL202"
    name = "gradients-wiped-before-step"
    category = "grad-mutation"
    summary = "Gradients are zeroed, sanitised to zero or dropped between backward() and step()."

    def check(self, analysis) -> Iterator[Report]:
        for body in analysis.steps.bodies:
            for step in plain_steps(body):
                before = events_before(body, step)
                nearest = next((e for e in before if e.kind in (BACKWARD, ZERO_GRAD, STEP)), None)
                if nearest is None or nearest.kind != BACKWARD:
                    continue  # no backward() leads here: gradients set by hand (an optimizer test) are not wiped
                for event in before[:before.index(nearest)]:
                    if event.kind == GRAD_EDIT and event.detail:
                        mod = event.module
                        yield Report(event.node, f"`{mod.code(event.node)}` runs after backward() and before "
                                     f"`{step.module.code(step.node)}` (line {step.module.line(step.node)}): it "
                                     f"{event.detail}, so the step can move nothing. Fix the cause (NaNs at their "
                                     "source, the scale factor), or skip and log the step instead.",
                                     (Related(step.node, "the optimizer step", step.module),), module=mod)


@register
class MissingZeroGrad(Rule):
    code = "GL203"
    name = "missing-zero-grad"
    category = "missing-zero-grad"
    severity = Severity.WARNING
    summary = "A training loop calls backward() and step() but never clears gradients, so they pile up across steps."

    def check(self, analysis) -> Iterator[Report]:
        loops = [b for b in analysis.steps.bodies if b.is_loop and b.of(BACKWARD) and plain_steps(b)]
        for body in loops:
            if any(inner is not body and _contains(body.node, inner.node) for inner in loops):
                continue  # the innermost loop is the one to blame
            step = plain_steps(body)[0]
            backward = body.of(BACKWARD)[0]
            clears = body.of(ZERO_GRAD) + [e for e in body.of(GRAD_EDIT) if _clears(e.node)]
            if not clears:
                problem = "never zero_grad()"
                related = ()
            elif all(_more_gated(clear, step) for clear in clears):
                clear = clears[0]
                problem = (f"clears gradients only when `{clear.module.code(clear.gates[-1].test)}` holds "
                           f"(line {clear.module.line(clear.node)}), while the step runs every iteration")
                related = (Related(clear.node, "the only, conditional zero_grad()", clear.module),)
            else:
                continue
            yield Report(step.node, f"this loop calls backward() (line {backward.module.line(backward.node)}) and "
                         f"`{step.module.code(step.node)}` but {problem}, so steps apply the sum of earlier "
                         "gradients. Call `optimizer.zero_grad()` once per iteration (or per accumulation cycle, "
                         "under the same condition as the step).",
                         (Related(backward.node, "backward() accumulates into .grad", backward.module),) + related,
                         module=step.module)


def _more_gated(clear: Event, step: Event) -> bool:
    """The clear is conditional while the step runs every iteration (two different conditions prove nothing)."""
    return bool(clear.gates) and not step.gates


def _clears(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and node.value.value == "None" or \
        isinstance(node, cst.Call)


def _contains(outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
    return any(n is inner for n in walk(outer.body, (cst.For, cst.While)))


@register
class BackwardNeverCalled(Rule):
    code = "GL204"
    name = "backward-not-called"
    category = "backward-missing"
    summary = "`loss.backward` is referenced but never called, or an optimizer closure never calls backward()."

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        for expr in mod.all(cst.Expr):
            value = expr.value
            if isinstance(value, cst.Attribute) and value.attr.value == "backward":
                yield Report(expr, f"`{mod.code(value)}` is only referenced, never called: no gradient is computed "
                             f"and the optimizer step changes nothing. Write `{mod.code(value)}()`.")
        for body in analysis.steps.bodies:
            for step in body.of(STEP):
                if step.closure is None:
                    continue
                closure = _closure_body(analysis, step)
                if closure is not None and not closure.of(BACKWARD) and _returns_graph_loss(analysis, closure):
                    yield Report(step.node, f"the closure `{step.module.code(step.closure)}` passed to "
                                 f"`{step.module.code(step.node)}` computes the loss but never calls backward(), so the "
                                 "optimizer sees no gradients. Call `loss.backward()` inside the closure before returning.",
                                 (Related(closure.node, "the closure", closure.module),), module=step.module)


def _returns_graph_loss(analysis, closure: Body) -> bool:
    """The closure returns a value on the graph (a loss it could have backpropagated), not a float."""
    from graphlint.engine.flow import function_key

    return ("ret", function_key(closure.module, closure.node)) in analysis.values.carrying_graph


def _closure_body(analysis, step: Event) -> Body | None:
    closure = step.closure
    for body in analysis.steps.bodies:
        if isinstance(body.node, cst.FunctionDef) and isinstance(closure, cst.Name) and body.node.name.value == closure.value:
            return body
    return None


@register
class SilentlyGatedStep(Rule):
    code = "GL205"
    name = "step-gated-on-gradients"
    category = "step-gate"
    severity = Severity.WARNING
    summary = "optimizer.step() only runs when a condition on gradient values holds, and nothing reports the skip."

    def check(self, analysis) -> Iterator[Report]:
        for body in analysis.steps.bodies:
            for step in plain_steps(body):
                if not step.gates:
                    continue
                gate = step.gates[-1]
                if gate.orelse is not None:
                    continue  # the else-branch handles the skip
                if _depends_on_gradients(analysis, gate.test, step):
                    mod = step.module
                    yield Report(gate, f"`{mod.code(step.node)}` runs only if `{mod.code(gate.test)}`, a condition on "
                                 "gradient values; when it is false the step is skipped silently (the incident shape: "
                                 "zero or NaN gradients → no update, nothing logged). Log or count the skip, or fix "
                                 "the gradients instead of gating.",
                                 (Related(step.node, "the gated optimizer step", mod),), module=mod)


def _depends_on_gradients(analysis, test: cst.BaseExpression, step: Event, depth: int = 0) -> bool:
    from graphlint.engine import names
    from graphlint.engine.flow import Context

    mod = step.module
    for node in walk(test, (cst.Attribute, cst.Call, cst.Name)):
        if isinstance(node, cst.Attribute) and node.attr.value == "grad":
            return True
        if isinstance(node, cst.Call) and mod.qualified(node) & names.CLIP_FUNCTIONS:
            return True
        if isinstance(node, cst.Name) and depth < 2:
            ctx = Context(mod, mod.enclosing_function(step.node), mod.enclosing_class(step.node))
            for value, _ in analysis.flow.assigned_values(node, ctx):
                if _depends_on_gradients(analysis, value, step, depth + 1):
                    return True
            found = analysis.flow.definition(node, ctx) if isinstance(mod.parent(node), cst.Call) else None
            if isinstance(found, tuple) and any(isinstance(a, cst.Attribute) and a.attr.value == "grad"
                                                for a in walk(found[1], cst.Attribute)):
                return True
    return False
