"""Rules about the order of backward, zero_grad, gradient edits and the optimizer step."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.engine import names
from graphlint.engine.flow import Context, function_key
from graphlint.engine.steps import BACKWARD, GRAD_EDIT, GRAD_NONE, STEP, ZERO_GRAD, StepGraph
from graphlint.engine.tree import walk
from graphlint.rules import Related, Report, Rule, register


def plain_steps(graph: StepGraph) -> list[int]:
    """Optimizer steps that rely on gradients already in `.grad` (not LBFGS-style closures)."""
    return [p for p in graph.points(STEP) if graph.events[p].closure is None]


@register
class ZeroGradBeforeStep(Rule):
    code = "GL201"

    def check(self, analysis) -> Iterator[Report]:
        for graph in analysis.steps.graphs:
            if not graph.points(BACKWARD):
                continue
            for p in plain_steps(graph):
                step = graph.events[p]
                among = graph.concerning(p, analysis.identity)
                for z in sorted(graph.nearest_before(p, (BACKWARD, ZERO_GRAD), among)):
                    nearest = graph.events[z]
                    if nearest.kind != ZERO_GRAD or not _after_backward(graph, z, among) or \
                            not graph.backward_free_to(z, p, among):
                        continue
                    mod = nearest.module
                    why, related = _other_losses_between(analysis, graph, z, p, among)
                    yield Report(nearest.node, f"`{mod.code(nearest.node)}` clears the gradients right before "
                                 f"`{step.module.code(step.node)}` (line {step.module.line(step.node)}): the step "
                                 f"sees no gradients from this iteration's backward(){why}. Call zero_grad() before "
                                 "the forward pass or after step().",
                                 (Related(step.node, "the optimizer step that gets no gradients", step.module),
                                  *related), module=mod)


def _other_losses_between(analysis, graph: StepGraph, z: int, p: int, among) -> tuple[str, tuple[Related, ...]]:
    """When backward() calls run between the zero_grad and the step but leave the stepped optimizer's parameters
    alone: why they do not refill them, and where the optimizer that the step runs was built."""
    passed = graph.flow.reach([z], lambda q: q == p, raising=False)[0]
    others = [graph.events[q] for q in sorted(passed) if q in graph.events and graph.events[q].kind == BACKWARD
              and not among(q)]
    if not others:
        return "", ()
    step = graph.events[p]
    sites = analysis.identity.stepped_by(step.node, step.module) or ()
    built = [o.site for o in analysis.identity.optimizers if o.node in sites]
    where = ", ".join(f"line {s.module.line(s.call)}" for s in built)
    why = (f" (`{step.module.code(step.node)}` runs the optimizer built at {where}; the backward() at line "
           f"{others[0].module.line(others[0].node)} reaches its parameters only through a cut)")
    return why, tuple(Related(s.call, "the optimizer this step runs", s.module) for s in built) + \
        (Related(others[0].node, "a backward() that leaves that optimizer's gradients alone", others[0].module),)


def _after_backward(graph: StepGraph, p: int, among=None) -> bool:
    """A backward() runs before ``p`` on some path, with no zero_grad() or step() in between (of those ``among``
    counts)."""
    return any(graph.events[q].kind == BACKWARD for q in graph.nearest_before(p, (BACKWARD, ZERO_GRAD, STEP), among))


@register
class GradientsWipedBeforeStep(Rule):
    code = "GL202"

    def check(self, analysis) -> Iterator[Report]:
        yield from _zeroing_gradient_hooks(analysis)
        for graph in analysis.steps.graphs:
            for p in plain_steps(graph):
                step = graph.events[p]
                for e in sorted(graph.between(p, (BACKWARD, ZERO_GRAD, STEP)) & set(graph.points(GRAD_EDIT))):
                    event = graph.events[e]
                    if not event.detail or not _after_backward(graph, e) or not graph.backward_free_to(e, p):
                        continue  # gradients set by hand (an optimizer test) are not wiped
                    mod = event.module
                    yield Report(event.node, f"`{mod.code(event.node)}` runs after backward() and before "
                                 f"`{step.module.code(step.node)}` (line {step.module.line(step.node)}): it "
                                 f"{event.detail}, so the step can move nothing. Fix the cause (NaNs at their "
                                 "source, the scale factor), or skip and log the step instead.",
                                 (Related(step.node, "the optimizer step", step.module), *_decided_by(event)),
                                 module=mod)


def _decided_by(event) -> tuple[Related, ...]:
    """Where the value that makes a gradient edit wipe the gradients was decided (a default, a floor division)."""
    known = event.decided
    return (Related(known.origin, f"the value is decided here: {known.how}", known.module),) if known else ()


@register
class MissingZeroGrad(Rule):
    code = "GL203"

    def check(self, analysis) -> Iterator[Report]:
        for graph in analysis.steps.graphs:
            loops = {}
            for head in graph.flow.loops:
                region = graph.loop_points(head)
                if set(graph.points(BACKWARD)) & region and set(plain_steps(graph)) & region:
                    loops[head] = region
            for head, region in loops.items():
                if any(inner != head and inner in region for inner in loops):
                    continue  # the innermost loop is the one to blame
                report = self._check_loop(analysis, graph, head, region)
                if report is not None:
                    yield report

    @staticmethod
    def _check_loop(analysis, graph: StepGraph, head: int, region: set[int]) -> Report | None:
        loop = graph.flow.loops[head]
        for p, among in ((p, among) for p in sorted(set(plain_steps(graph)) & region)
                         for among in _each_optimizer(analysis, graph, p)):
            if not graph.uncleared_cycle(p, region, among):
                continue
            step = graph.events[p]
            clears = [graph.events[q] for q in sorted(region) if graph.is_clear(q, among) and
                      graph.events[q].kind != GRAD_NONE]
            others = [graph.events[q] for q in sorted(region) if graph.is_clear(q) and not among(q)]
            if not clears:
                if analysis.steps.renewed_each_iteration(step, loop):
                    return None  # a new model and optimizer per iteration start from empty gradients
                problem, related = "never zero_grad()", ()
                if others:  # another optimizer's zero_grad() clears its own parameters only
                    other = others[0]
                    problem = (f"never clears the gradients of the parameters `{step.module.code(step.node)}` "
                               f"updates (`{other.module.code(other.node)}`, line {other.module.line(other.node)}, "
                               "clears another optimizer's parameters only)")
                    related = (Related(other.node, "clears a different optimizer's parameters", other.module),)
            elif len({_own_gates(clear, step)[-1:] for clear in clears}) > 1:
                return None  # clears under different conditions (`accum > 1` before a loop, `accum == 1` in it)
            elif graph.every_iteration(p, head, region):
                clear = clears[0]
                own = _own_gates(clear, step)
                when = f"when `{clear.module.code(own[-1][0].test)}` {'holds' if own[-1][1] else 'fails'}" if own \
                    else "on some iterations"
                problem = (f"clears gradients only {when} (line {clear.module.line(clear.node)}), while the step runs "
                           "every iteration")
                related = (Related(clear.node, "the only, conditional zero_grad()", clear.module),)
            else:
                return None  # the step and the clear are both conditional: which runs when is unknown
            backward = next(graph.events[q] for q in sorted(region) if q in graph.events and graph.events[q].kind == BACKWARD)
            return Report(step.node, f"this loop calls backward() (line {backward.module.line(backward.node)}) and "
                          f"`{step.module.code(step.node)}` but {problem}, so steps apply the sum of earlier "
                          "gradients. Call `optimizer.zero_grad()` once per iteration (or per accumulation cycle, "
                          "under the same condition as the step).",
                          (Related(backward.node, "backward() accumulates into .grad", backward.module),) + related,
                          module=step.module)
        return None


def _each_optimizer(analysis, graph: StepGraph, p: int):
    """The events that concern each optimizer the step at ``p`` runs, one optimizer at a time (a step in a loop
    over a list runs several; each needs its own clear)."""
    step = graph.events[p]
    stepped = analysis.identity.stepped_by(step.node, step.module)
    for only in sorted(stepped, key=repr) if stepped is not None and len(stepped) > 1 else (None,):
        yield graph.concerning(p, analysis.identity, only)


def _own_gates(event, step) -> tuple:
    """The `if` arms ``event`` runs in that the step does not."""
    return tuple((gate, arm) for gate, arm in event.gates if (gate, arm) not in step.gates)


@register
class BackwardNeverCalled(Rule):
    code = "GL204"

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        for expr in mod.all(cst.Expr):
            value = expr.value
            if isinstance(value, cst.Attribute) and value.attr.value == "backward":
                yield Report(expr, f"`{mod.code(value)}` is only referenced, never called: no gradient is computed "
                             f"and the optimizer step changes nothing. Write `{mod.code(value)}()`.")
        for graph in analysis.steps.graphs:
            for step in graph.of(STEP):
                if step.closure is None:
                    continue
                closure = _closure_graph(analysis, step)
                if closure is not None and not closure.of(BACKWARD) and _returns_graph_loss(analysis, closure):
                    yield Report(step.node, f"the closure `{step.module.code(step.closure)}` passed to "
                                 f"`{step.module.code(step.node)}` computes the loss but never calls backward(), so the "
                                 "optimizer sees no gradients. Call `loss.backward()` inside the closure before returning.",
                                 (Related(closure.node, "the closure", closure.module),), module=step.module)


def _returns_graph_loss(analysis, closure: StepGraph) -> bool:
    """The closure returns a value on the graph (a loss it could have backpropagated), not a float."""
    return ("ret", function_key(closure.module, closure.node)) in analysis.values.carrying_graph


def _closure_graph(analysis, step) -> StepGraph | None:
    closure = step.closure
    for graph in analysis.steps.graphs:
        if isinstance(graph.node, cst.FunctionDef) and isinstance(closure, cst.Name) and graph.node.name.value == closure.value:
            return graph
    return None


@register
class SilentlyGatedStep(Rule):
    code = "GL205"

    def check(self, analysis) -> Iterator[Report]:
        steps = [step for graph in analysis.steps.graphs for step in map(graph.events.get, plain_steps(graph))]
        closed = {id(step): _closed_gate(analysis, step) for step in steps}
        for step in steps:
            if not step.gates:
                continue
            gate, runs_when = step.gates[-1]
            mod = step.module if gate in step.module.parents else analysis.module  # a caller's `if`: the file's
            never = closed[id(step)]
            # another step of the same optimizer that may run (the other arm of `if mode == ...`) trains it
            if never is not None and all(closed[id(other)] is not None for other in steps
                                         if _stepped_optimizer(other) == _stepped_optimizer(step)):
                condition = mod.code(gate.test) if runs_when else f"not ({mod.code(gate.test)})"
                why, decided = never
                yield Report(gate, f"`{step.module.code(step.node)}` runs only if `{condition}`, which never "
                             f"holds{why}: the optimizer never steps and nothing trains. Check the values that "
                             "decide the condition.",
                             (Related(step.node, "the optimizer step that never runs", step.module), *decided),
                             module=mod)
                continue
            skipped = _other_arm(gate, runs_when)
            if skipped is None or _reports(mod, skipped):
                continue  # the skip is logged, counted, raised, or spread over an elif chain
            if _depends_on_gradients(analysis, gate.test, step):
                what = ("a condition on gradient values; when it fails the step is skipped silently (the incident "
                        "shape: zero or NaN gradients → no update, nothing logged). Log or count the skip, or fix "
                        "the gradients instead of gating.")
            elif _caps_loss(analysis, mod, gate, runs_when):
                what = ("a cap on the loss value; when the loss is above it the step is skipped silently, and a "
                        "threshold in other units than the loss (a per-token limit on a summed loss) skips every "
                        "step. Log or count the skip.")
            else:
                continue
            condition = mod.code(gate.test) if runs_when else f"not ({mod.code(gate.test)})"
            yield Report(gate, f"`{step.module.code(step.node)}` runs only if `{condition}`, {what}",
                         (Related(step.node, "the gated optimizer step", step.module),), module=mod)


def _stepped_optimizer(step) -> str:
    """The optimizer a step moves: `optimizer` for `optimizer.step()` and for `scaler.step(optimizer)`."""
    if "scaler" in step.detail.lower() and step.node.args:
        return step.module.code(step.node.args[0].value)
    return step.detail


def _closed_gate(analysis, step) -> tuple[str, tuple[Related, ...]] | None:
    """Why the innermost `if` around a step never lets it run (see `_never_opens`); None when it may."""
    if not step.gates:
        return None
    gate, runs_when = step.gates[-1]
    mod = step.module if gate in step.module.parents else analysis.module
    return _never_opens(analysis, mod, gate, runs_when)


def _never_opens(analysis, mod, gate: cst.If, runs_when: bool) -> tuple[str, tuple[Related, ...]] | None:
    """Why a step's gate is closed on every iteration, from values the file decides (`epoch >= cfg.warmup_epochs` over
    `range(cfg.epochs)` with warm-up 5 and 3 epochs), and where those values are decided; None when unsure."""
    found = analysis.constants.over_loop(gate.test, mod)
    if found is None:  # the loop variables may come from callers (`train_one_epoch(model, epoch)` over the epochs)
        found = analysis.constants.over_loops(gate.test, Context(mod, mod.enclosing_function(gate),
                                                                 mod.enclosing_class(gate)))
    if found is None:
        return None
    values, bounds = found
    if not values or any(v.value is not (not runs_when) for v in values):
        return None
    decided = {id(k.origin): k for v in (*values, *bounds) for k in v.deciding()}
    if not decided:
        return None  # a literal condition (`if False:`) is a deliberate switch
    loop = f" on any iteration of `range({', '.join(mod.code(b.origin) if not b.elsewhere else str(b.value) for b in bounds)})`" \
        if bounds else ""
    why = loop + " with the values this file gives (" + "; ".join(
        f"{k.how}, line {k.module.line(k.origin)}" for k in decided.values()) + ")"
    return why, tuple(Related(k.origin, f"decides the condition: {k.how}", k.module) for k in decided.values())


def _other_arm(gate: cst.If, runs_when: bool) -> cst.BaseSuite | None | tuple:
    """What runs instead of the step: the other arm of its `if`; () when there is none, None for an elif chain."""
    if not runs_when:
        return gate.body
    if isinstance(gate.orelse, cst.If):
        return None
    return gate.orelse.body if gate.orelse is not None else ()


def _reports(mod, suite) -> bool:
    """The skip branch leaves a trace: it calls something (print, a logger), raises, or sets a value read elsewhere."""
    if suite == ():
        return False
    for node in walk(suite, (cst.Call, cst.Raise, cst.Assign, cst.AugAssign)):
        if isinstance(node, (cst.Call, cst.Raise)):
            return True
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        if any(_is_read(mod, t) for t in targets):
            return True
    return False


def _is_read(mod, target: cst.BaseExpression) -> bool:
    """A name or attribute (`skipped`, `self.skipped`) is read somewhere in the file, not only written."""
    name = target.attr.value if isinstance(target, cst.Attribute) else target.value if isinstance(target, cst.Name) else None
    if name is None:
        return True  # a subscript or unpacking: not followed
    for node in mod.all(cst.Name):
        if node.value != name:
            continue
        place = mod.parent(node) if isinstance(mod.parent(node), cst.Attribute) and mod.parent(node).attr is node else node
        parent = mod.parent(place)
        while isinstance(parent, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):  # `a, skipped = ...`
            place, parent = parent, mod.parent(parent)
        if not (isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign)) and parent.target is place):
            return True
    return False


def _caps_loss(analysis, mod, gate: cst.If, runs_when: bool) -> bool:
    """The step runs only while the backpropagated loss stays under a threshold (a loss-spike guard),
    read through `not`, `and`/`or` and helpers that return the comparison. Lower bounds (`loss > 0`, a
    hinge loss with nothing to learn) skip on purpose and are not caps."""
    fn = mod.enclosing_function(gate)
    losses = _backpropagated_names(fn or mod.tree)
    ctx = Context(mod, fn, mod.enclosing_class(gate))
    return any(above != runs_when for above in _loss_above(analysis, gate.test, losses, ctx, False, 0))


def _backpropagated_names(scope: cst.CSTNode) -> set[str]:
    """`loss` in `loss.backward()`, `scaler.scale(loss).backward()`, `accelerator.backward(loss)`."""
    found = set()
    for call in walk(scope, cst.Call):
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "backward":
            receiver = call.func.value
            for expr in (receiver, receiver.args[0].value if isinstance(receiver, cst.Call) and receiver.args else None,
                         call.args[0].value if call.args else None):
                if isinstance(expr, cst.Name):
                    found.add(expr.value)
    return found


_ORDERED = {cst.GreaterThan: True, cst.GreaterThanEqual: True, cst.LessThan: False, cst.LessThanEqual: False}


def _loss_above(analysis, expr, losses: set[str], ctx, negated: bool, depth: int):
    """For each comparison of a loss with a threshold in ``expr``: whether ``expr`` being true means
    the loss is above the threshold."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        yield from _loss_above(analysis, expr.expression, losses, ctx, not negated, depth)
    elif isinstance(expr, cst.BooleanOperation):
        for side in (expr.left, expr.right):
            yield from _loss_above(analysis, side, losses, ctx, negated, depth)
    elif isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1 and type(expr.comparisons[0].operator) in _ORDERED:
        above = _ORDERED[type(expr.comparisons[0].operator)]
        left, right = _mentions(expr.left, losses), _mentions(expr.comparisons[0].comparator, losses)
        if left != right:
            yield (above if left else not above) != negated
    elif isinstance(expr, cst.Call) and depth < 2:
        found = analysis.flow.callee(expr, ctx)
        if found is None:
            return
        fmod, fn, cls, receiver = found
        params = [p.name.value for p in fn.params.params][1 if receiver is not None else 0:]
        passed = {params[i] for i, arg in enumerate(expr.args)
                  if i < len(params) and arg.keyword is None and _mentions(arg.value, losses)}
        if passed:
            for ret in walk(fn, cst.Return):
                if ret.value is not None:
                    yield from _loss_above(analysis, ret.value, passed, Context(fmod, fn, cls), negated, depth + 1)


def _mentions(expr: cst.BaseExpression, names_: set[str]) -> bool:
    return any(n.value in names_ for n in walk(expr, cst.Name))


def _depends_on_gradients(analysis, test: cst.BaseExpression, step, depth: int = 0) -> bool:
    """The condition reads gradient values (`p.grad`, a clipped norm, a name computed from them); asking
    whether a gradient exists (`p.grad is not None`) is not a value: stepping a parameter without one
    would change nothing anyway."""
    mod = step.module
    presence = {id(c.left) for c in walk(test, cst.Comparison) if len(c.comparisons) == 1 and  # `p.grad is None`
                isinstance(c.comparisons[0].operator, (cst.Is, cst.IsNot))}
    for node in walk(test, (cst.Attribute, cst.Call, cst.Name)):
        if isinstance(node, cst.Attribute) and node.attr.value == "grad" and id(node) not in presence:
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


def _zeroing_gradient_hooks(analysis) -> Iterator[Report]:
    """`p.register_hook(lambda g: g.clamp(-c, c))` on every parameter with c 0: torch runs the hook on each backward
    and its return value replaces the gradient, so every step moves nothing."""
    if not analysis.flow.sinks or not any(graph.points(STEP) for graph in analysis.steps.graphs):
        return
    for hook in analysis.hooks.zeroing:
        mod = hook.module
        if not _on_every_parameter(mod, hook.register):
            continue
        related = (Related(hook.edit, "the hook's return value replaces the gradient", mod),)
        decided = ""
        if hook.known is not None:
            decided = f" ({hook.known.how}, line {hook.known.module.line(hook.known.origin)})"
            related += (Related(hook.known.origin, f"the 0 is decided here: {hook.known.how}", hook.known.module),)
        yield Report(hook.register, f"this gradient hook {hook.how}, which is 0{decided}: torch runs it on every "
                     "backward() and its return value replaces the gradient, so no step moves these parameters. "
                     "Register the hook only when the bound is set (or check it inside the hook).", related, module=mod)


def _on_every_parameter(mod, register: cst.Call) -> bool:
    """The hook is registered on the variable of a loop over a model's parameters."""
    receiver = register.func.value
    if not isinstance(receiver, cst.Name):
        return False
    for loop in mod.ancestors(register):
        if isinstance(loop, cst.For) and any(n.value == receiver.value for n in walk(loop.target, cst.Name)):
            return any(isinstance(c.func, cst.Attribute) and c.func.attr.value in ("parameters", "named_parameters")
                       for c in walk(loop.iter, cst.Call))
    return False
