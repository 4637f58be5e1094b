"""Graphs kept alive across training iterations."""
from __future__ import annotations

from collections import deque
from typing import Iterator

import libcst as cst

from graphlint.engine.flow import Context, _argument as argument, function_key
from graphlint.engine.tree import walk
from graphlint.engine.values import Kind
from graphlint.rules import Related, Report, Rule, register


@register
class GraphKeptAcrossIterations(Rule):
    code = "GL401"

    def check(self, analysis) -> Iterator[Report]:
        flow, values = analysis.flow, analysis.values
        training_loops = analysis.steps.training_loops
        backpropagated = None
        for acc in flow.accumulations:
            graphs = [expr for expr, value in acc.added if values.kind(expr, acc.ctx, value) is Kind.GRAPH and
                      not _converted_by_helper(acc, expr, flow.knowledge)]
            if not graphs or _computed_without_grad(acc, flow):
                continue
            mod = acc.ctx.module
            container = _container(acc.target)
            if backpropagated is None:
                backpropagated = _backpropagated(flow)
            target_nodes = flow.versions(flow.var_node(container, acc.ctx)) if isinstance(container, cst.Name) \
                else flow.eval(container, acc.ctx).nodes
            if target_nodes & backpropagated:
                continue  # accumulated on purpose, then backpropagated (gradient accumulation by summing)
            layer = _module_state(acc)
            if layer:
                kept = _kept_by_module(acc, flow, analysis.losses)
            else:
                kept = _persistent_attribute(acc, mod, training_loops, flow) or \
                    _outlives_loop(acc, mod, training_loops, flow) or _outlives_call(acc, mod, flow, training_loops)
            if not kept:
                continue
            yield Report(acc.site, f"`{mod.code(acc.site)}` keeps `{mod.code(graphs[0])}`, a tensor that still carries its autograd "
                         "graph, in state that outlives the training iteration, so every iteration's graph stays in "
                         "memory and usage grows each step. Keep its `.item()` or `.detach()` instead.",
                         _handed_over(acc, flow, values, training_loops, layer), module=mod)


def _converted_by_helper(acc, expr: cst.BaseExpression, kb) -> bool:
    """The function that keeps the value turns a name in it into a number or a detached tensor on some path
    before keeping it (`if isinstance(val, torch.Tensor): val = val.item()`, `v = v.detach() if torch.is_tensor(v)
    else v`): it means to keep no graph, and which path runs is decided by the caller's types."""
    fn = acc.ctx.function
    if fn is None:
        return False
    names = {n.value for n in walk(expr, cst.Name)} if not isinstance(expr, cst.Name) else {expr.value}
    mod = acc.ctx.module
    for assign in walk(fn.body, cst.Assign):
        bound = {t.target.value for t in assign.targets if isinstance(t.target, cst.Name)} & names
        if bound and any(_cuts(call, bound, kb, mod) for call in walk(assign.value, cst.Call)):
            return True
    return False


def _cuts(call: cst.Call, names: set[str], kb, mod) -> bool:
    """`x.item()`, `x.detach().cpu()`, `float(x)` for a name ``x`` in ``names``."""
    func = call.func
    if isinstance(func, cst.Attribute) and (kb.matches("cuts.detach", (), func.attr.value) or
                                            kb.matches("cuts.scalar", (), func.attr.value)):
        root = func.value
        while isinstance(root, (cst.Attribute, cst.Call)):
            root = root.value if isinstance(root, cst.Attribute) else root.func
        return isinstance(root, cst.Name) and root.value in names
    return bool(mod.qualified(call) & {"builtins.float", "builtins.int"}) and bool(call.args) and \
        isinstance(call.args[0].value, cst.Name) and call.args[0].value.value in names


def _computed_without_grad(acc, flow) -> bool:
    """`self.total += value` or `ema = 0.9 * ema + 0.1 * value` computes a new tensor; in a function that every
    caller runs under no_grad it carries no graph, whatever it was given (keeping the given tensor itself, as
    `append` does, would still keep its graph)."""
    fn = acc.ctx.function
    return not isinstance(acc.site, cst.Call) and fn is not None and bool(_callers(flow, acc.ctx.module, fn)) and \
        _only_called_without_grad(flow, acc.ctx.module, fn)


def _container(target: cst.BaseExpression) -> cst.BaseExpression:
    """What keeps an accumulated value: `self.history` for `self.history[name].append(v)`."""
    while isinstance(target, cst.Subscript):
        target = target.value
    return target


def _self_attribute(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self"


def _backpropagated(flow) -> set:
    """Nodes whose value a gradient computation starts from, through what they compute or are (cuts included:
    `total += loss` then `total.backward()`), not through what a library call may merely hold (a replay
    buffer's items drawn by `random.choices` become the next batch's inputs, not the loss's terms)."""
    graph = flow.graph
    found = {s.node for s in flow.sinks}
    queue = deque(found)
    while queue:
        current = queue.popleft()
        for pred in graph.predecessors(current):
            if pred not in found and not graph.edges[pred, current]["held"]:
                found.add(pred)
                queue.append(pred)
    return found


def _persistent_attribute(acc, mod, training_loops, flow) -> bool:
    """`self.total += x` outside forward(), where it happens every iteration: in a training loop, in a step
    hook (`training_step`, `on_train_batch_end`), or in a method called from a loop. The object outlives
    the step; a one-off setup method keeping something is not an iteration's graph, nor a list the method
    makes afresh on every call (`self.predictions = []` before its loop)."""
    target = _container(acc.target)
    fn = acc.ctx.function
    if not (_self_attribute(target) and fn is not None and fn.name.value != "__init__"):
        return False
    if _made_afresh(fn, target, acc.site) or _made_afresh(fn, acc.target, acc.site) or \
            _emptied_each_iteration(acc, flow, training_loops):
        return False
    return any(a is t for a in mod.ancestors(acc.site) for t in training_loops) or \
        _runs_every_iteration(flow, mod, fn)


def _module_state(acc) -> bool:
    """The store is in the forward() of a layer class: the layer, not a helper object, keeps the value."""
    fn, cls = acc.ctx.function, acc.ctx.cls
    return fn is not None and cls is not None and fn.name.value in ("forward", "__call__") and \
        cls.node.name.value in acc.ctx.module.module_classes


def _kept_by_module(acc, flow, losses) -> bool:
    """`self.attention_maps.append(weights)` in a layer's forward(): the layer lives for the whole run, so when
    its forward runs every training iteration with grad on, each iteration's graph is added to the list -- unless
    anything in the file empties or rebinds that attribute outside __init__ (a trainer's `.clear()`, a `reset()`),
    or the store is conditional (a debugging switch, a cache filled only while generating). A layer the file
    never calls itself runs inside a library container (`nn.Sequential(Sparse(), ...)`): it trains when an
    instance of it reaches a training loss."""
    mod, fn, cls = acc.ctx.module, acc.ctx.function, acc.ctx.cls
    target = _container(acc.target)
    if not _self_attribute(target) or _conditional(mod, acc.site, fn):
        return False
    if _emptied_anywhere(cls, target.attr.value, acc.site):
        return False
    if _callers(flow, mod, fn):
        return _runs_every_iteration(flow, mod, fn) and not _only_called_without_grad(flow, mod, fn)
    return any(data.get("kind") == "instance" and data.get("cls") is cls and node in losses.reaches_loss_cleanly
               for node, data in flow.graph.nodes(data=True))


def _conditional(mod, site: cst.CSTNode, fn: cst.FunctionDef) -> bool:
    """The store sits under an `if` of its function other than `if self.training:`."""
    for a in mod.ancestors(site):
        if a is fn:
            return False
        if isinstance(a, cst.If) and not (_self_attribute(a.test) and a.test.attr.value == "training"):
            return True
    return False


def _emptied_anywhere(cls, attr: str, site: cst.CSTNode) -> bool:
    """`<anything>.<attr>` is rebound, emptied (`.clear()`, `del x[:]`) or popped from outside __init__ in the file."""
    mod = cls.module
    return any(_empties(mod, node, site) for node in mod.all(cst.Attribute) if node.attr.value == attr and not any(
        isinstance(a, cst.FunctionDef) and a.name.value == "__init__" for a in mod.ancestors(node)))


def _empties(mod, node: cst.Attribute, site: cst.CSTNode) -> bool:
    """This `<x>.<attr>` (or an entry of it) is rebound, emptied (`.clear()`, `del x[:]`) or popped, other than by
    the accumulation ``site`` itself."""
    parent = mod.parent(node)
    if isinstance(parent, cst.Subscript) and parent.value is node:
        if isinstance(mod.parent(parent), cst.Del):
            return True
        node, parent = parent, mod.parent(parent)
    if mod.is_written(node) or isinstance(parent, cst.AugAssign) and parent.target is node:
        return not any(a is site for a in mod.ancestors(node))
    return isinstance(parent, cst.Attribute) and parent.value is node and \
        parent.attr.value in ("clear", "pop", "popleft") and isinstance(mod.parent(parent), cst.Call)


def _emptied_each_iteration(acc, flow, training_loops) -> bool:
    """A training loop that runs the store also empties the container every iteration: `.clear()`, `del x[:]` or
    a rebinding of `<x>.<attr>` in its body or in a function of the file it calls (`finish_episode(policy)`), or
    a call of a method of the keeping class that does (`tracker.reset()`)."""
    container = _container(acc.target)
    if not isinstance(container, cst.Attribute):
        return False
    attr, cls = container.attr.value, acc.ctx.cls
    resetting = {name for name, method in cls.methods.items() if name != "__init__" and any(
        _empties(cls.module, node, acc.site) for node in walk(method.body, cst.Attribute) if node.attr.value == attr)} \
        if cls is not None and _self_attribute(container) else set()
    for loop, mod in _loops_running(acc, flow, training_loops):
        ctx = Context(mod, mod.enclosing_function(loop), mod.enclosing_class(loop))
        bodies = [(loop.body, mod)] + [(found[1].body, found[0]) for found in
                                       (flow.callee(call, ctx) for call in walk(loop.body, cst.Call))
                                       if found and found[1] is not acc.ctx.function]
        for body, bmod in bodies:
            for node in walk(body, cst.Attribute):
                if node.attr.value == attr and _empties(bmod, node, acc.site) or node.attr.value in resetting and \
                        isinstance(bmod.parent(node), cst.Call) and bmod.parent(node).func is node:
                    return True
    return False


def _loops_running(acc, flow, training_loops, depth: int = 3) -> list:
    """The innermost training loops (with their module) whose iterations run the store: around it, or around a
    call that leads to it."""
    def innermost(mod, node):
        loop = next((a for a in mod.ancestors(node) if any(a is t for t in training_loops)), None)
        return [(loop, mod)] if loop is not None else []

    found = innermost(acc.ctx.module, acc.site)
    level = [(acc.ctx.module, acc.ctx.function)] if acc.ctx.function is not None else []
    for _ in range(depth):
        if found:  # an outer loop (over epochs) that empties the container keeps it for a whole epoch
            return found
        up = []
        for mod, fn in level:
            for call, ctx in _callers(flow, mod, fn):
                found += innermost(ctx.module, call)
                if ctx.function is not None and ctx.function is not fn:
                    up.append((ctx.module, ctx.function))
        level = up
    return found


def _outlives_loop(acc, mod, training_loops, flow) -> bool:
    """A name that keeps growing from one training iteration to the next: a running total or a list bound
    outside the training loop (not made afresh in its body, even around an inner loop), or a list of outputs
    collected batch after batch (an evaluation loop without no_grad) -- not one that counts (`for i in range(k)`,
    a differentiable top-k inside one forward) or goes over a literal handful of items."""
    root = _root_name(acc.target)
    if root is None or root.value == "self":
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
    if training is None and not isinstance(acc.target, cst.Name):
        return False  # an entry or attribute filled outside training: a setup loop's grouping, a report's fields
    if training is None:
        fn = acc.ctx.function
        if not isinstance(acc.site, cst.Call) or not flow.sinks or fn is None or fn.name.value in ("forward", "__call__") \
                or acc.ctx.cls is not None and acc.ctx.cls.node.name.value in mod.module_classes \
                or _only_called_without_grad(flow, mod, fn) or not _iterates_data(loops[0], flow, acc.ctx) \
                or not _runs_a_layer(loops[0].body, flow, acc.ctx):
            return False
    # a worklist (`stack.extend(...)` and `stack.pop()` in one loop) does not grow with the iterations
    worklist = any(isinstance(c.func, cst.Attribute) and c.func.attr.value in ("pop", "popleft") and
                   _same(c.func.value, acc.target) for c in walk(loops[0], cst.Call))
    scope = training or loops[0]
    return not worklist and not any(_made_afresh(scope, t, acc.site) for t in _containers(acc.target))


def _outlives_call(acc, mod, flow, training_loops) -> bool:
    """A function that a training loop runs every iteration adds to a container it did not make: a module-level
    list, one of the enclosing function (`history = []` in main, `def log(v): history.append(v)`), or one its
    caller passes from outside the training loop (`def log(history, v)` called as `log(losses, loss)`)."""
    fn, root = acc.ctx.function, _root_name(acc.target)
    if fn is None or root is None or root.value == "self" or acc.ctx.cls is not None and _module_state(acc):
        return False
    if any(_made_afresh(fn, t, acc.site) for t in _containers(acc.target)):
        return False
    scope = mod.scopes.lookup(root)
    if scope is not None and scope.node is fn:
        return _passed_from_outside(acc, root, flow, training_loops)
    if scope is None or not any(a is scope.node for a in mod.ancestors(fn)):
        return False
    return bool(_loops_running(acc, flow, training_loops)) and not _only_called_without_grad(flow, mod, fn)


def _passed_from_outside(acc, root: cst.Name, flow, training_loops) -> bool:
    """``root`` is a parameter of the storing function, and a call of it in a training loop passes a name that
    the loop does not bind afresh (a list the caller made before the loop)."""
    fn = acc.ctx.function
    params = [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]
    if root.value not in params + [p.name.value for p in fn.params.kwonly_params]:
        return False
    index = params.index(root.value) if root.value in params else -1
    if index >= 0 and acc.ctx.cls is not None:
        index -= 1  # called as obj.method(...)
    for call, ctx in flow.entered.get(function_key(acc.ctx.module, fn), []):
        loop = next((a for a in ctx.module.ancestors(call) if any(a is t for t in training_loops)), None)
        given = argument(call, index, root.value)
        if loop is None or not isinstance(given, cst.Name):
            continue
        bound_by_loop = isinstance(loop, cst.For) and any(_same(n, given) for n in walk(loop.target, cst.Name))
        if not bound_by_loop and not _made_afresh(loop, given, call):
            return True
    return False


def _root_name(target: cst.BaseExpression) -> cst.Name | None:
    """`stats` for `stats["loss"].append(x)` or `logger.history.append(x)`."""
    while isinstance(target, (cst.Subscript, cst.Attribute)):
        target = target.value
    return target if isinstance(target, cst.Name) else None


def _containers(target: cst.BaseExpression):
    """The target and what holds it: `stats["loss"]`, then `stats`."""
    yield target
    while isinstance(target, (cst.Subscript, cst.Attribute)):
        target = target.value
        yield target


STEP_HOOK_SUFFIXES = ("_step", "_step_end", "_batch_start", "_batch_end", "_epoch_end")
# Hooks of evaluation loops, which frameworks run without grad: by name they say nothing about training steps.
EVAL_HOOK_PREFIXES = ("validation_", "val_", "test_", "predict_", "on_validation_", "on_test_", "on_predict_")


def _callers(flow, mod, fn) -> list:
    """The calls of ``fn``: those the flow analysis resolved to it (`model(x)` runs forward, `smoother(loss)`
    a `__call__`), and calls by its name in the main file."""
    resolved = flow.entered.get(function_key(mod, fn), [])
    seen = {id(call) for call, _ in resolved}
    return resolved + [(call, ctx) for call, ctx in flow.call_sites(mod, fn) if id(call) not in seen]


def _runs_every_iteration(flow, mod, fn, depth: int = 0) -> bool:
    """A framework's per-step training hook, or a function called in a loop of the file (directly or through others)."""
    if fn.name.value.endswith(STEP_HOOK_SUFFIXES) and not fn.name.value.startswith(EVAL_HOOK_PREFIXES):
        return True
    if depth > 2:
        return False
    for call, ctx in _callers(flow, mod, fn):
        if any(isinstance(a, (cst.For, cst.While)) for a in ctx.module.ancestors(call)):
            return True
        if ctx.function is not None and _runs_every_iteration(flow, ctx.module, ctx.function, depth + 1):
            return True
    return False


def _handed_over(acc, flow, values, training_loops, layer: bool, depth: int = 3) -> tuple[Related, ...]:
    """Where the training code hands the graph-carrying value to the helper that keeps it: the nearest call on
    the way up from the store that sits in a training loop (`logger.update(loss=loss)`), else the helper's
    own caller. For a layer's own state (``layer``): the call in the training loop that runs its forward."""
    fn = acc.ctx.function
    if fn is None:
        return ()
    message = "the layer's forward runs here every training iteration" if layer else \
        "the graph-carrying value is handed over here"
    level, first = [(acc.ctx.module, fn)], None
    for _ in range(depth):
        up = []
        for mod, callee in level:
            for call, ctx in flow.entered.get(function_key(mod, callee), []):
                if not layer and not any(values.kind(a.value, ctx) is Kind.GRAPH for a in call.args):
                    continue
                first = first or (call, ctx)
                if any(a is t for a in ctx.module.ancestors(call) for t in training_loops):
                    return (Related(call, message, ctx.module),)
                if ctx.function is not None:
                    up.append((ctx.module, ctx.function))
        level = up
    return (Related(first[0], message, first[1].module),) if first else ()


def _only_called_without_grad(flow, mod, fn) -> bool:
    """Every call of ``fn`` in the file sits in a `with torch.no_grad()` block or a `@torch.no_grad()` function,
    or in a function whose own calls all do (or there is none to see)."""
    sites = _callers(flow, mod, fn)
    return not sites or all(_without_grad(flow, call, ctx, fn, 0) for call, ctx in sites)


def _without_grad(flow, call, ctx, fn, depth: int) -> bool:
    from graphlint.engine import names

    mod = ctx.module
    if any(isinstance(a, cst.With) and any(mod.is_any(i.item, names.NO_GRAD_CONTEXTS) for i in a.items) or
           isinstance(a, cst.FunctionDef) and any(mod.is_any(d.decorator, names.NO_GRAD_CONTEXTS) for d in a.decorators)
           for a in mod.ancestors(call)):
        return True
    caller = ctx.function
    if depth >= 3 or caller is None or caller is fn:
        return False
    sites = _callers(flow, mod, caller)
    return bool(sites) and all(_without_grad(flow, c, cctx, fn, depth + 1) for c, cctx in sites)


def _made_afresh(scope: cst.For | cst.While | cst.FunctionDef, target: cst.BaseExpression, site: cst.CSTNode) -> bool:
    """The body of a loop or function (inner loops included) binds `xs` / `self.xs` anew or empties it: `xs = []`,
    `xs: list = []`, `xs.clear()`, `del xs[:]` -- not the accumulation ``site`` itself (`ema = 0.9 * ema + loss`),
    nor a first value given only while it is unset (`if self.value is None: self.value = loss`)."""
    body = scope.body
    assigns = [a for a in walk(body, cst.Assign) if a is not site and not _first_value(body, a, target)]
    targets = [t.target for a in assigns for t in a.targets] + [a.target for a in walk(body, cst.AnnAssign)]
    if any(_same(n, target) for t in targets for n in _bound_names(t)):
        return True
    cleared = any(isinstance(c.func, cst.Attribute) and c.func.attr.value == "clear" and _same(c.func.value, target)
                  for c in walk(body, cst.Call))
    deleted = any(isinstance(d.target, cst.Subscript) and _same(d.target.value, target) for d in walk(body, cst.Del))
    return cleared or deleted


def _first_value(body: cst.CSTNode, assign: cst.Assign, target: cst.BaseExpression) -> bool:
    """``assign`` sits in the body of `if <target> is None:` (or `if not <target>:`)."""
    for node in walk(body, cst.If):
        test = node.test
        unset = isinstance(test, cst.Comparison) and _same(test.left, target) and len(test.comparisons) == 1 and \
            isinstance(test.comparisons[0].operator, cst.Is) and isinstance(test.comparisons[0].comparator, cst.Name) \
            and test.comparisons[0].comparator.value == "None" or \
            isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and _same(test.expression, target)
        if unset and any(a is assign for a in walk(node.body, cst.Assign)):
            return True
    return False


def _same(expr: cst.BaseExpression, target: cst.BaseExpression) -> bool:
    """The same name, the same `self.<attr>`, or the same entry of one (`self.history["loss"]`)."""
    if isinstance(expr, cst.Name) and isinstance(target, cst.Name):
        return expr.value == target.value
    if isinstance(expr, cst.Subscript) and isinstance(target, cst.Subscript):
        return _same(expr.value, target.value) and len(expr.slice) == len(target.slice) and \
            all(a.deep_equals(b) for a, b in zip(expr.slice, target.slice))  # a slice is a sequence of elements
    return isinstance(expr, cst.Attribute) and isinstance(target, cst.Attribute) and expr.attr.value == target.attr.value \
        and isinstance(expr.value, cst.Name) and isinstance(target.value, cst.Name) and expr.value.value == target.value.value


def _runs_a_layer(body: cst.CSTNode, flow, ctx, depth: int = 0) -> bool:
    """A layer or model of the file runs in a loop's body (`outputs.append(model(batch))`), directly or in a
    function of the file it calls, so what the body collects can be its fresh output -- not a regrouping of
    values made before the loop (parameter groups)."""
    graph = flow.graph
    for call in walk(body, cst.Call):
        found = flow.callee(call, ctx)
        if found is not None and found[1].name.value in ("forward", "__call__") and found[2] is not None:
            return True
        if found is not None and depth < 1 and _runs_a_layer(found[1].body, flow, Context(found[0], found[1], found[2]),
                                                              depth + 1):
            return True
        callee = flow.eval(call.func, ctx).nodes if found is None else ()
        if any(graph.nodes[obj].get("kind") in ("owner", "instance") for n in callee for obj in flow.points_to(n)
               if obj in graph):
            return True
    return False


def _iterates_data(loop: cst.For | cst.While, flow, ctx) -> bool:
    """A `for` over batches or samples (a loader, a dataset, a tensor's rows), not over a count (`range(k)`,
    `enumerate(range(k))`) or a literal handful of items (written there, or in the list a name is given:
    `groups = [{...}, {...}]; for group in groups`)."""
    if not isinstance(loop, cst.For):
        return False
    iterable = loop.iter
    while isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) and \
            iterable.func.value in ("enumerate", "zip", "reversed", "list", "tuple") and iterable.args:
        iterable = iterable.args[0].value
    counts = isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) and iterable.func.value == "range"
    literal = (cst.Tuple, cst.List, cst.Set)
    if isinstance(iterable, cst.Name):
        given = [value for value, _ in flow.assigned_values(iterable, ctx)]
        if given and all(isinstance(value, literal) for value in given):
            return False
    return not counts and not isinstance(iterable, literal)


def _bound_names(target: cst.BaseExpression):
    """The expressions an assignment target binds: itself, or each element of `a, (b, c) = ...`."""
    if isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _bound_names(element.value)
    else:
        yield target
