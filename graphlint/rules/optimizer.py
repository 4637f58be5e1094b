"""Rules about which parameters the optimizer holds and at what learning rate."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.engine import names
from graphlint.engine.flow import Context, function_key
from graphlint.engine.tree import walk
from graphlint.rules import Related, Report, Rule, register
from graphlint.rules.structure import TENSOR_FACTORIES, creates_parameters


@register
class LayersOutsideOptimizer(Rule):
    code = "GL501"

    def check(self, analysis) -> Iterator[Report]:
        yield from self._replaced_after_optimizer(analysis)
        yield from self._partial_coverage(analysis)

    def _replaced_after_optimizer(self, analysis) -> Iterator[Report]:
        """`opt = SGD(model.parameters())` then `model.fc = nn.Linear(...)` in the same function."""
        mod = analysis.module
        for opt in analysis.flow.optimizers:
            if opt.module is not mod or opt.params is None:
                continue
            # the models the optimizer was built from (`self.G` in `Adam(self.G.parameters())`): a layer assigned
            # under one of them replaces a part of it; `self.D_aug = ...` beside `self.G` does not
            holders = {mod.code(c.func.value) for c in walk(opt.params, cst.Call)
                       if isinstance(c.func, cst.Attribute) and c.func.attr.value in ("parameters", "named_parameters")}
            scope_body = opt.function.body if opt.function is not None else mod.tree
            opt_line = mod.line(opt.call)
            later_optimizers = [o for o in analysis.flow.optimizers if o.function is opt.function and mod.line(o.call) > opt_line]
            for assign in walk(scope_body, cst.Assign):
                if mod.line(assign) <= opt_line or not creates_parameters(mod, assign.value) or \
                        mod.enclosing_function(assign) is not opt.function:
                    continue  # only the same function's code runs after this optimizer was built
                for target in assign.targets:
                    t = target.target
                    if isinstance(t, cst.Attribute) and _under_any(mod.code(t), holders) and \
                            not any(mod.line(o.call) > mod.line(assign) for o in later_optimizers) and \
                            not _adds_param_group_after(scope_body, mod, mod.line(assign)):
                        yield Report(assign, f"`{mod.code(t)}` is replaced after the optimizer was built from "
                                     f"`{mod.code(opt.params)}` (line {opt_line}): the optimizer still holds the old "
                                     "layer's parameters, so the new one never trains. Build the optimizer after "
                                     "changing the model.", (Related(opt.call, "the optimizer, built earlier"),))

    def _partial_coverage(self, analysis) -> Iterator[Report]:
        """Optimizers built from part of a model while other layers of it reach the loss cleanly."""
        losses = analysis.losses
        coverage = losses.optimizer_coverage
        if not coverage:
            return
        missing = [o for o in losses.owners if o in losses.reaches_loss_cleanly and o not in coverage
                   and o not in losses.frozen_owners and o not in losses.updated_outside_autograd
                   and analysis.flow.graph.nodes[o].get("kind") == "owner"]
        if not missing:
            return
        labels = sorted({losses.owner_label(o) for o in missing})
        for opt in analysis.flow.optimizers:
            if opt.params is None or not _only_submodules(opt.params):
                continue
            mod = opt.module
            yield Report(opt.call, f"the optimizer is built from `{mod.code(opt.params)}` only, but "
                         + ", ".join(f"`{x}`" for x in labels[:3]) + (" …" if len(labels) > 3 else "")
                         + " also reach the loss and are not frozen: they get gradients and never move. Pass all "
                         "trainable parameters (or freeze the rest with `requires_grad_(False)`).", module=mod)


def _only_submodules(params: cst.BaseExpression) -> bool:
    """Every `.parameters()` in the expression is called on an attribute (`model.head`), not a whole model."""
    calls = [c for c in walk(params, cst.Call)
             if isinstance(c.func, cst.Attribute) and c.func.attr.value in ("parameters", "named_parameters")]
    return bool(calls) and all(isinstance(c.func.value, cst.Attribute) and
                               not (isinstance(c.func.value.value, cst.Name) and c.func.value.value.value == "self")
                               for c in calls)


def _adds_param_group_after(body, mod, line: int) -> bool:
    return any(isinstance(c.func, cst.Attribute) and c.func.attr.value == "add_param_group" and mod.line(c) > line
               for c in walk(body, cst.Call))


@register
class LearningRateStaysZero(Rule):
    code = "GL601"

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        lr_set_by_hand = any(_is_lr_key(t.target) for t in mod.all(cst.AssignTarget))
        stepped = _stepped_optimizers(analysis)
        if lr_set_by_hand:
            yield from self._rates_set_by_hand(analysis)
        for call in mod.all(cst.Call):
            qualified = mod.qualified(call)
            if any(names.is_optimizer(q) for q in qualified) and not lr_set_by_hand and \
                    ("call", id(call)) in stepped and not self._holds_only_plain_tensors(analysis, call):
                yield from self._zero_learning_rates(analysis, call)
            if qualified & names.LAMBDA_SCHEDULERS:
                fn_expr = next((a.value for a in call.args if a.keyword and a.keyword.value == "lr_lambda"), None)
                if fn_expr is None and len(call.args) > 1:
                    fn_expr = call.args[1].value
                for division in self._floor_divided_steps(analysis, fn_expr, call):
                    yield Report(division, f"the schedule factor `{mod.code(division)}` uses integer division of the "
                                 "step, which is 0 until the step reaches the divisor, so the learning rate stays 0 "
                                 "for the whole warm-up (often the whole run). Use true division: "
                                 "`min(1.0, (step + 1) / warmup)`.", (Related(call, "the scheduler"),))

    @staticmethod
    def _rates_set_by_hand(analysis) -> Iterator[Report]:
        """`group["lr"] = lr` over `optimizer.param_groups`, where `lr` is 0 for every value of the loops that feed it
        (a per-epoch warm-up `base * epoch / warmup` in a run of one epoch): every step leaves the parameters where
        they are. Silent when the file sets the learning rate any other way too (another assignment, a scheduler)."""
        mod = analysis.module
        writes = [a for a in mod.all(cst.Assign) if any(_is_lr_key(t.target) for t in a.targets)]
        if len(writes) != 1 or any(q.startswith("torch.optim.lr_scheduler.") or "scheduler" in q.lower()
                                   for c in mod.all(cst.Call) for q in mod.qualified(c)):
            return
        write = writes[0]
        target = next(t.target for t in write.targets if _is_lr_key(t.target))
        if not _param_group_of_optimizer(mod, target.value):
            return
        ctx = Context(mod, mod.enclosing_function(write), mod.enclosing_class(write))
        found = analysis.constants.over_loops(write.value, ctx)
        if found is None:
            return
        values, bounds = found
        if not values or any(isinstance(v.value, bool) or not isinstance(v.value, (int, float)) or v.value != 0
                             for v in values):
            return
        decided = {id(k.origin): k for v in (*values, *bounds) for k in v.deciding()}
        if not decided:
            return  # `group["lr"] = 0` written as such: a deliberate freeze
        loop_values = [k for k in values if k.elsewhere and isinstance(k.origin, cst.Call)]
        loops = f" on every iteration of `{mod.code(loop_values[0].origin)}`" if loop_values else ""
        places = "; ".join(f"{k.how}, line {k.module.line(k.origin)}" for k in decided.values()
                           if not isinstance(k.origin, cst.Call) or k not in loop_values)
        yield Report(write, f"`{mod.code(write)}` sets the learning rate to 0{loops} with the values this file gives "
                     f"({places or 'see the related lines'}), so every step leaves the parameters unchanged: a "
                     "warm-up that is 0 at its first epoch in a run that never gets past it, or a factor that rounds "
                     "down to 0. Start the warm-up above 0 (`(epoch + 1) / warmup`).",
                     tuple(Related(k.origin, f"decides the value: {k.how}", k.module) for k in decided.values()))

    @staticmethod
    def _zero_learning_rates(analysis, call: cst.Call) -> Iterator[Report]:
        """`lr=` of the optimizer, or `"lr"` of a parameter group in its list, whose value is surely 0 (a literal, a
        command-line default, a config field, a `dict.get` fallback); the report names where the 0 was decided."""
        mod = analysis.module
        rates = [(arg.value, "the optimizer is built with") for arg in call.args
                 if arg.keyword is not None and arg.keyword.value == "lr"]
        params = call.args[0].value if call.args and call.args[0].keyword is None else None
        params = analysis.constants.held(params, Context(mod, mod.enclosing_function(call), mod.enclosing_class(call))) \
            if params is not None else None
        groups = params.elements if isinstance(params, (cst.List, cst.Tuple)) else ()
        rates += [(el.value, "a parameter group has") for group in groups if isinstance(group.value, cst.Dict)
                  for el in group.value.elements if isinstance(el, cst.DictElement) and
                  isinstance(el.key, cst.SimpleString) and el.key.evaluated_value == "lr"]
        for rate, who in rates:
            known = analysis.constants.at(rate, mod)
            if known is None or isinstance(known.value, bool) or not isinstance(known.value, (int, float)) or \
                    known.value != 0:
                continue
            if not known.elsewhere:
                yield Report(rate, f"{who} `lr={mod.code(rate)}`: every step leaves its parameters unchanged.")
            else:
                yield Report(rate, f"{who} `lr={mod.code(rate)}`, which is 0 ({known.how}, line "
                             f"{known.module.line(known.origin)}): every step leaves its parameters unchanged.",
                             (Related(known.origin, f"the learning rate's 0 is decided here: {known.how}", known.module),))

    @staticmethod
    def _holds_only_plain_tensors(analysis, call: cst.Call) -> bool:
        """`SGD([torch.zeros(1, requires_grad=True)], lr=0)`: a stand-in optimizer (for a scheduler test or an
        I/O benchmark) that trains no layer, so lr=0 costs nothing."""
        mod = analysis.module
        params = next((o.params for o in analysis.flow.optimizers if o.call is call), None)
        if not isinstance(params, (cst.List, cst.Tuple)) or not params.elements:
            return False
        ctx = Context(mod, mod.enclosing_function(call), mod.enclosing_class(call))

        def tensor_factory(expr) -> bool:
            return isinstance(expr, cst.Call) and bool(mod.qualified(expr) & TENSOR_FACTORIES)

        return all(analysis.flow.always(el.value, ctx, tensor_factory, names_deep=2) for el in params.elements)

    @staticmethod
    def _floor_divided_steps(analysis, fn_expr, call) -> Iterator[cst.BinaryOperation]:
        """`s // n` on the step argument inside the schedule's function (a lambda, a def, or a factory's inner def),
        where it makes the factor 0 until the step reaches n: `step // warmup` or `min(1, step // warmup)`, not
        `0.1 ** (epoch // 30)` (which is 1 then)."""
        mod = analysis.module
        if fn_expr is None:
            return
        candidates = []
        if isinstance(fn_expr, cst.Lambda):
            candidates.append((fn_expr.params, fn_expr.body))
        else:
            ctx = Context(mod, mod.enclosing_function(call), mod.enclosing_class(call))
            target = fn_expr.func if isinstance(fn_expr, cst.Call) else fn_expr
            found = analysis.flow.definition(target, ctx)
            if isinstance(found, tuple):
                fn = found[1]
                inner = [f for f in walk(fn.body, (cst.FunctionDef, cst.Lambda))] if isinstance(fn_expr, cst.Call) else [fn]
                for f in inner:
                    candidates.append((f.params, f.body))
        for params, body in candidates:
            step = [p.name.value for p in params.params][:1]
            if not step:
                continue
            factors = [body] if isinstance(body, cst.BaseExpression) else [r.value for r in walk(body, cst.Return) if r.value]
            for factor in factors:
                divisions = [op for op in walk(factor, cst.BinaryOperation) if isinstance(op.operator, cst.FloorDivide)
                             and isinstance(op.left, cst.Name) and op.left.value == step[0]]
                if divisions and analysis.values.number(factor, lambda e: 0.0 if e in divisions else None) == 0.0:
                    yield divisions[0]


@register
class PretrainedEmbeddingFrozen(Rule):
    code = "GL701"

    def check(self, analysis) -> Iterator[Report]:
        mod = analysis.module
        explicit = set()
        for opt in analysis.flow.optimizers:
            if opt.params is None:
                continue
            for c in walk(opt.params, cst.Call):
                if isinstance(c.func, cst.Attribute) and c.func.attr.value == "parameters" and \
                        isinstance(c.func.value, cst.Attribute):
                    explicit.add(c.func.value.attr.value)
        for cls in mod.classes.values():
            for attr, values in cls.attr_values.items():
                for value, _ in values:
                    if isinstance(value, cst.Call) and any(q.endswith("Embedding.from_pretrained") or
                                                           q.endswith("EmbeddingBag.from_pretrained")
                                                           for q in mod.qualified(value)) and \
                            not any(a.keyword and a.keyword.value == "freeze" for a in value.args) and attr in explicit:
                        yield Report(value, f"`{mod.code(value)}` is frozen (`freeze=True` is the default), yet "
                                     f"`{attr}.parameters()` is handed to the optimizer: its weights never change. "
                                     "Pass `freeze=False` to fine-tune it.")


def _stepped_optimizers(analysis) -> set:
    """Optimizer objects that something in the file steps (`opt.step()`, `scaler.step(opt)`) or hands to Lightning
    (`configure_optimizers` returns it); an optimizer never stepped (a scheduler test's) moves nothing at any lr."""
    flow = analysis.flow
    mod = analysis.module
    stepped: set = set()
    for call in mod.all(cst.Call):
        func = call.func
        if isinstance(func, cst.Attribute) and flow.knowledge.matches("optimizers.step", (), func.attr.value):
            ctx = Context(mod, mod.enclosing_function(call), mod.enclosing_class(call))
            exprs = [func.value] + [a.value for a in call.args[:1]]
            stepped |= {obj for e in exprs for node in flow.eval(e, ctx).nodes for obj in flow.points_to(node)}
    for cls in mod.classes.values():
        if "configure_optimizers" in cls.methods:
            stepped |= flow.points_to(("ret", function_key(mod, cls.methods["configure_optimizers"])))
    return stepped


def _param_group_of_optimizer(mod, holder: cst.BaseExpression) -> bool:
    """`group` of `for group in optimizer.param_groups`, or `optimizer.param_groups[0]`."""
    if isinstance(holder, cst.Subscript):
        holder = holder.value
    elif isinstance(holder, cst.Name):
        bindings = mod.scopes.bindings(holder)
        loop = mod.parent(bindings[0].node) if len(bindings) == 1 else None
        if not (isinstance(loop, cst.For) and loop.target is bindings[0].node):
            return False
        holder = loop.iter
    return isinstance(holder, cst.Attribute) and holder.attr.value == "param_groups"


def _is_lr_key(target: cst.BaseExpression) -> bool:
    """`group["lr"] = ...`: the learning rate is set by hand, whatever the optimizer was built with."""
    return isinstance(target, cst.Subscript) and len(target.slice) == 1 and \
        isinstance(target.slice[0].slice, cst.Index) and isinstance(target.slice[0].slice.value, cst.SimpleString) and \
        target.slice[0].slice.value.evaluated_value == "lr"


def _under_any(path: str, holders: set[str]) -> bool:
    """`model.fc` is `model` or a part of it."""
    return any(path == h or path.startswith(h + ".") for h in holders)
