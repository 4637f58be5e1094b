"""Rules about which parameters the optimizer holds and at what learning rate."""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.engine import names
from graphlint.engine.flow import Context, function_key
from graphlint.engine.steps import STEP, ZERO_GRAD
from graphlint.engine.identity import (AFTER, constructs_model, context_of, name_test, new_parameters, one_value, order,
                                       parameter_names, read_after_loop)
from graphlint.engine.tree import walk
from graphlint.rules import Related, Report, Rule, register
from graphlint.rules.dispatch import never_stepped_by_the_class_loop
from graphlint.rules.structure import TENSOR_FACTORIES, creates_parameters


@register
class LayersOutsideOptimizer(Rule):
    code = "GL501"

    def check(self, analysis) -> Iterator[Report]:
        yield from self._replaced_after_optimizer(analysis)
        yield from self._partial_coverage(analysis)
        yield from self._copy_trained_instead(analysis)
        yield from self._attribute_replaced_later(analysis)
        yield from self._name_rebound_later(analysis)
        yield from self._groups_miss_parameters(analysis)
        yield from self._generator_used_up(analysis)

    @staticmethod
    def _generator_used_up(analysis) -> Iterator[Report]:
        """`params = model.parameters()` (a generator), iterated to the end (`sum(p.numel() for p in params)`, a
        helper that loops over it) before the optimizer is given `params`: the optimizer gets what is left, nothing."""
        mod = analysis.module
        for site in analysis.flow.optimizers:
            if site.module is not mod or site.params is None:
                continue
            for name in {n.value for n in walk(site.params, cst.Name)}:
                used = _used_up_before(analysis, site, name)
                if used is not None:
                    source, consumer = used
                    yield Report(consumer, f"this iterates `{name}` to its end, and `{name}` is the generator "
                                 f"`{mod.code(source)}`: the optimizer built from it at line {mod.line(site.call)} gets "
                                 f"what is left, nothing, so those parameters are never updated. Make it a list "
                                 f"(`{name} = list({mod.code(source)})`) or call `.parameters()` again.",
                                 (Related(source, "the generator", mod),
                                  Related(site.call, "the optimizer given the used-up generator", mod)))

    @staticmethod
    def _groups_miss_parameters(analysis) -> Iterator[Report]:
        """Parameter groups made by filtering `model.named_parameters()` by name, where some parameters that the
        loss reaches pass no group's filter (`"norm" not in n and "bias" not in n` / `"bias" in n` leaves out the
        LayerNorm weights)."""
        ident, flow, mod = analysis.identity, analysis.flow, analysis.module
        if len(ident.optimizers) != 1:
            return
        opt = ident.optimizers[0]
        if opt.site.module is not mod or opt.site.params is None or opt.node not in _stepped_optimizers(analysis):
            return
        found = one_value(flow, opt.site.params, Context(mod, opt.site.function, mod.enclosing_class(opt.site.call)))
        if found is None or not isinstance(found[0], (cst.List, cst.Tuple)) or not found[0].elements:
            return
        filters = [_name_filter(flow, el, found[1]) for el in found[0].elements]
        if None in filters or len({id(cls) for _, _, cls, _ in filters}) != 1:
            return
        names_ = parameter_names(flow, filters[0][2])
        if not names_:
            return
        missed = []
        for name, owner in names_.items():
            verdicts = [_group_takes(conds, var, name, strings) for conds, var, _, (_, strings, _) in filters]
            if all(v is False for v in verdicts) and owner in ident.training_reach and \
                    owner not in analysis.losses.frozen_owners:
                missed.append(name)
        if missed:
            shown = ", ".join(f"`{n}`" for n in missed[:4]) + (" …" if len(missed) > 4 else "")
            yield Report(opt.site.call, f"the parameter groups given to the optimizer filter "
                         f"`named_parameters()` by name, and {shown} pass{'es' if len(missed) == 1 else ''} no "
                         "group's filter: they reach the loss but are in no optimizer, so they never move. Make the "
                         "filters complementary (e.g. the no-decay group takes every name the decay group leaves out).",
                         tuple(Related(f[3][0], "a parameter group's filter", f[3][2]) for f in filters))

    @staticmethod
    def _copy_trained_instead(analysis) -> Iterator[Report]:
        """The loss is computed by a copy (`copy.deepcopy(model)`, `AveragedModel(model)`) of the model an optimizer
        holds, the model itself by nothing: the copy's gradients reach no optimizer, the model gets none."""
        ident, mod = analysis.identity, analysis.module
        if not ident.copies or any(o.held is None for o in ident.optimizers):
            return
        held_anywhere = set().union(*(analysis.flow.members(h) for o in ident.optimizers for h in o.held))
        stepped = _stepped_optimizers(analysis)
        for opt in ident.optimizers:
            if opt.site.module is not mod or opt.node not in stepped or opt.held & ident.trained:
                continue
            for copy in ident.copies:
                if copy not in ident.trained or copy in held_anywhere or not ident.copy_source(copy) & opt.held:
                    continue
                data = analysis.flow.graph.nodes[copy]
                site, cmod = data["site"], data["module"]
                yield Report(opt.site.call, f"the optimizer holds the parameters of `{mod.code(opt.site.params)}`, but the "
                             f"loss is computed by `{cmod.code(site)}` (line {cmod.line(site)}), a copy with parameters "
                             "of its own: the copy gets the gradients and is in no optimizer, the original gets none, "
                             "so nothing trains. Train the original (use the copy for evaluation), or build the "
                             "optimizer on the copy.", (Related(site, "the copy that the loss is computed by", cmod),))

    @staticmethod
    def _attribute_replaced_later(analysis) -> Iterator[Report]:
        """`model.embedding = nn.Embedding.from_pretrained(v, freeze=False)` (or `model.classifier[6] = nn.Linear(...)`)
        in a helper called after the optimizer was built from `model.parameters()`: the new layer trains in the loss
        and is in no optimizer."""
        ident, flow, mod = analysis.identity, analysis.flow, analysis.module
        if any(o.held is None for o in ident.optimizers) or _adds_param_group_after(mod.tree, mod, 0):
            return
        stepped = _stepped_optimizers(analysis)
        for amod, assign in ident.assignments():
            targets = [t.target for t in assign.targets if isinstance(t.target, (cst.Attribute, cst.Subscript))]
            if len(targets) != 1 or not new_parameters(amod, assign.value) or \
                    ("call", id(assign.value)) not in ident.training_reach:
                continue
            replaced = ident.objects(targets[0].value, context_of(amod, assign))
            holders = [o for o in ident.optimizers if any(replaced & flow.members(h) for h in o.held)]
            for opt in holders:
                if opt.node not in stepped:
                    continue
                # every optimizer that may hold the model was surely built before the replacement
                if any(order(flow, (o.site.module, o.site.call), (amod, assign)) != {AFTER} for o in holders):
                    break
                yield Report(assign, f"`{amod.code(targets[0])}` is replaced with new parameters after the optimizer was "
                             f"built from `{opt.site.module.code(opt.site.params)}` (line "
                             f"{opt.site.module.line(opt.site.call)}): the optimizer still holds the old ones, so the "
                             "new layer gets gradients and never moves. Build the optimizer after changing the model "
                             "(or copy the new values in place with `.data.copy_()` under no_grad).",
                             (Related(opt.site.call, "the optimizer, built earlier", opt.site.module),), module=amod)
                break

    @staticmethod
    def _name_rebound_later(analysis) -> Iterator[Report]:
        """`model = Net.from_checkpoint(path)` after `opt = Adam(model.parameters())` in the same function: the
        optimizer holds the first model, the new one is trained and in no optimizer."""
        ident, flow, mod = analysis.identity, analysis.flow, analysis.module
        if any(o.held is None for o in ident.optimizers) or _adds_param_group_after(mod.tree, mod, 0):
            return
        stepped = _stepped_optimizers(analysis)
        held_anywhere = set().union(*(h for o in ident.optimizers for h in o.held))
        for assign in mod.all(cst.Assign):
            if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
                continue
            name, ctx = assign.targets[0].target, context_of(mod, assign)
            if ctx.function is None or not constructs_model(flow, assign.value, ctx):
                continue
            new = flow.points_to(flow.var_node(name, ctx) + (id(assign),))
            if not new & ident.trained or new & held_anywhere:
                continue
            for opt in ident.optimizers:
                if opt.site.function is not ctx.function or opt.node not in stepped or \
                        name.value not in _holder_names(opt.site.params) or \
                        order(flow, (mod, opt.site.call), (mod, assign)) != {AFTER}:
                    continue
                if any(o.site.function is ctx.function and mod.line(o.site.call) > mod.line(assign)
                       for o in ident.optimizers):
                    break  # rebuilt after
                yield Report(assign, f"`{name.value}` is bound to a new model after the optimizer was built from "
                             f"`{mod.code(opt.site.params)}` (line {mod.line(opt.site.call)}): the optimizer still "
                             "holds the first model's parameters, and the new model, which the loss is computed by, "
                             "is in no optimizer. Build the optimizer after the model is final.",
                             (Related(opt.site.call, "the optimizer, built from the earlier model"),))
                break

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


def _name_filter(flow, element, ctx):
    """For one parameter group `{"params": <some of model.named_parameters()>, ...}`: (the ways a parameter gets in,
    each a list of (test of its name, whether it holds), the name variable, the model's class, (where, {names of
    string lists the tests read}, module)); None for any form but a filtered comprehension
    (`[p for n, p in model.named_parameters() if "bias" in n]`) or a list appended to under `if`/`elif` in a loop
    over `model.named_parameters()`."""
    if not isinstance(element, cst.Element) or not isinstance(element.value, cst.Dict):
        return None
    params = [d.value for d in element.value.elements if isinstance(d, cst.DictElement) and
              isinstance(d.key, cst.SimpleString) and d.key.evaluated_value == "params"]
    if len(params) != 1:
        return None
    if isinstance(params[0], cst.Name):
        appended = _appended_filter(flow, params[0].value, ctx)
        if appended is not None:
            return appended
    found = one_value(flow, params[0], ctx)
    if found is None:
        return None
    comp, cctx = found
    if isinstance(comp, cst.Call) and isinstance(comp.func, cst.Name) and comp.func.value == "list" and len(comp.args) == 1:
        comp = comp.args[0].value
    if not isinstance(comp, (cst.ListComp, cst.GeneratorExp)) or comp.for_in.inner_for_in is not None or \
            not isinstance(comp.elt, cst.Name):
        return None
    loop = _over_named_parameters(flow, comp.for_in.target, comp.for_in.iter, comp.elt.value, cctx)
    if loop is None:
        return None
    tests = [(c.test, True) for c in comp.for_in.ifs]
    return [tests], loop[0], loop[1], (comp, _strings_read(flow, tests, cctx), cctx.module)


def _over_named_parameters(flow, target, source, element: str, ctx):
    """(name variable, model class) for `for n, p in model.named_parameters()` taking `p`; None otherwise."""
    if not (isinstance(target, cst.Tuple) and len(target.elements) == 2 and
            all(isinstance(e.value, cst.Name) for e in target.elements) and
            element == target.elements[1].value.value and isinstance(source, cst.Call) and not source.args and
            isinstance(source.func, cst.Attribute) and source.func.attr.value == "named_parameters"):
        return None
    cls = flow.class_of(source.func.value, ctx)
    return (target.elements[0].value.value, cls) if cls is not None else None


def _appended_filter(flow, name: str, ctx):
    """`decay = []` then `decay.append(p)` under `if`/`elif`/`else` arms in `for n, p in model.named_parameters():`."""
    mod = ctx.module
    scope = ctx.function.body if ctx.function is not None else mod.tree
    made = [value for a in walk(scope, cst.Assign) for t in a.targets for value in _values_for(t.target, a.value, name)]
    uses = [c for c in walk(scope, cst.Call) if isinstance(c.func, cst.Attribute) and
            isinstance(c.func.value, cst.Name) and c.func.value.value == name]
    if len(made) != 1 or not isinstance(made[0], cst.List) or made[0].elements or not uses or \
            any(c.func.attr.value != "append" or len(c.args) != 1 or not isinstance(c.args[0].value, cst.Name)
                for c in uses) or any(isinstance(a.target, cst.Name) and a.target.value == name
                                      for a in walk(scope, cst.AugAssign)):
        return None
    ways, found = [], None
    for call in uses:
        tests, loop = [], None
        child = mod.parent(call)
        for parent in mod.ancestors(child):
            if isinstance(parent, cst.For):
                loop = parent
                break
            if isinstance(parent, cst.If):
                tests.append((parent.test, _in_body(parent, child)))
            elif isinstance(parent, (cst.While, cst.With, cst.Try, cst.FunctionDef)):
                return None
            child = parent
        if loop is None or any(True for _ in walk(loop.body, (cst.Continue, cst.Break, cst.Return))):
            return None
        over = _over_named_parameters(flow, loop.target, loop.iter, call.args[0].value.value, ctx)
        if over is None or found is not None and over != found:
            return None
        found = over
        ways.append(tests)
    every = [t for way in ways for t in way]
    return ways, found[0], found[1], (made[0], _strings_read(flow, every, ctx), mod)


def _values_for(target: cst.BaseExpression, value: cst.BaseExpression, name: str) -> list:
    """What an assignment gives ``name``: `[]` for `decay` in `decay = []` and in `decay, no_decay = [], []`;
    the whole value when the shapes do not match (an unknown part)."""
    if isinstance(target, cst.Name):
        return [value] if target.value == name else []
    if isinstance(target, (cst.Tuple, cst.List)):
        names_ = [e.value for e in target.elements]
        if not any(isinstance(n, cst.Name) and n.value == name for n in names_):
            return []
        if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(names_):
            return [v.value for n, v in zip(names_, value.elements) if isinstance(n, cst.Name) and n.value == name]
        return [value]
    return []


def _in_body(gate: cst.If, child: cst.CSTNode) -> bool:
    """Whether ``child`` (a node just under the `if`) is its body rather than its `else`/`elif` part."""
    return child is gate.body


def _strings_read(flow, tests, ctx) -> dict[str, tuple[str, ...]]:
    found = {}
    for name in {n.value for test, _ in tests for n in walk(test, cst.Name)}:
        held = _string_list(flow, name, None, ctx)
        if held is not None:
            found[name] = held
    return found


def _group_takes(ways: list, name_var: str, name: str, strings: dict) -> bool | None:
    """Whether a group takes a parameter name (one of its ways in has every test as required); None when that
    cannot be decided."""
    verdicts = []
    for tests in ways:
        results = [name_test(t, name_var, name, strings) for t, _ in tests]
        verdicts.append(None if None in results else all(r == want for r, (_, want) in zip(results, tests)))
    return True if True in verdicts else None if None in verdicts else False


def _string_list(flow, name: str, near: cst.CSTNode, ctx) -> tuple[str, ...] | None:
    """The strings of a list literal a name is assigned once in the function around ``near`` (`no_decay = [...]`)."""
    scope = ctx.function.body if ctx.function is not None else ctx.module.tree
    values = [a.value for a in walk(scope, cst.Assign) if len(a.targets) == 1 and
              isinstance(a.targets[0].target, cst.Name) and a.targets[0].target.value == name]
    if len(values) != 1 or not isinstance(values[0], (cst.List, cst.Tuple, cst.Set)):
        return None
    items = [e.value for e in values[0].elements if isinstance(e, cst.Element)]
    if not all(isinstance(i, cst.SimpleString) for i in items):
        return None
    return tuple(i.evaluated_value for i in items)


def _holder_names(params: cst.BaseExpression) -> set[str]:
    """`model` in `Adam(model.parameters())` or `Adam(list(model.parameters()) + ...)`."""
    return {c.func.value.value for c in walk(params, cst.Call) if isinstance(c.func, cst.Attribute) and
            c.func.attr.value in ("parameters", "named_parameters") and isinstance(c.func.value, cst.Name)}


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
class OptimizerNeverStepped(Rule):
    code = "GL207"

    def check(self, analysis) -> Iterator[Report]:
        """Two mechanisms, one fault: the file's steps, told apart as objects, never run the optimizer; or the
        loop of its class's hierarchy (dispatch.never_stepped_by_the_class_loop) steps other attributes. One report per line."""
        seen: set[tuple] = set()
        for report in (*self._unstepped_by_the_files_steps(analysis), *never_stepped_by_the_class_loop(analysis)):
            module = report.module or analysis.module
            where = (module.path, module.line(report.node))
            if where not in seen:
                seen.add(where)
                yield report

    @staticmethod
    def _unstepped_by_the_files_steps(analysis) -> Iterator[Report]:
        """An optimizer whose parameters the training loss reaches, that no `step()` of the file (and the code it
        calls) may run, and that no code the analysis cannot see may reach."""
        ident = analysis.identity
        steps = [e for graph in analysis.steps.graphs for e in graph.of(STEP)]
        stepped = [ident.stepped_by(e.node, e.module) for e in steps]
        if not steps or None in stepped:
            return
        run = set().union(*stepped)
        unstepped = [opt for opt in ident.optimizers
                     if opt.node not in run and opt.held is not None and not ident.escapes(opt) and
                     any(m in ident.training_reach for h in opt.held for m in analysis.flow.members(h))]
        leftover = next(filter(None, (_left_by_a_loop(e) for e in steps)), None) if unstepped else None
        if leftover is not None:  # one cause for them all: the step outside the loop that zeroes them
            step, loop = leftover
            names = ", ".join(f"`{o.site.module.code(o.site.params)}`" for o in unstepped[:3])
            yield Report(step.node, f"this `step()` runs after the loop at line {step.module.line(loop)} has ended, so "
                         f"`{step.module.code(loop.target)}` holds only the loop's last optimizer: the others (over "
                         f"{names}) are never stepped, and their parameters get gradients and never move. Step "
                         "inside the loop.", (Related(loop, "the loop that leaves the name bound", step.module),
                                              *(Related(o.site.call, "an optimizer never stepped", o.site.module)
                                                for o in unstepped[:3])), module=step.module)
            return
        for opt in unstepped:
            cleared = [e for graph in analysis.steps.graphs for e in graph.of(ZERO_GRAD)
                       if isinstance(e.node.func, cst.Attribute) and
                       opt.node in (ident.optimizers_of(e.node.func.value, context_of(e.module, e.node)) or ())]
            zeroed = f" (it is zeroed at line {cleared[0].module.line(cleared[0].node)})" if cleared else ""
            shown = list({(e.module.path, e.module.line(e.node)): e for e in steps}.values())[:3]
            lines = ", ".join(str(e.module.line(e.node)) for e in shown)
            omod = opt.site.module
            yield Report(opt.site.call, f"this optimizer over `{omod.code(opt.site.params)}` is never stepped{zeroed}: "
                         f"the training loss reaches its parameters, but no `step()` of the file runs it (the steps "
                         f"at line {lines} run other optimizers), so they get gradients and never move. Step it "
                         "with the others.",
                         tuple(Related(e.node, "a step that runs another optimizer", e.module) for e in shown),
                         module=omod)


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
        pending = [(params, body, p.name.value, 0) for params, body in candidates for p in params.params[:1]]
        while pending:
            params, body, step, depth = pending.pop()
            factors = [body] if isinstance(body, cst.BaseExpression) else [r.value for r in walk(body, cst.Return) if r.value]
            for factor in factors:
                divisions = [op for op in walk(factor, cst.BinaryOperation) if isinstance(op.operator, cst.FloorDivide)
                             and _the_step(op.left, step)]
                if divisions and analysis.values.number(factor, lambda e: 0.0 if e in divisions else None) == 0.0:
                    yield divisions[0]
                elif depth < 2:  # `lambda s: warmup_factor(s, cfg)`: the factor a helper of the file computes
                    pending += _step_handed_to_helpers(analysis, factor, step, call, depth + 1)


_ITERATING = frozenset({"builtins.sum", "builtins.list", "builtins.tuple", "builtins.set", "builtins.sorted",
                        "builtins.max", "builtins.min", "builtins.any", "builtins.all"})


def _used_up_before(analysis, site, name: str) -> tuple[cst.Call, cst.CSTNode] | None:
    """(the `.parameters()` call, the statement that iterates it) when, in the optimizer's own block, `name` is bound
    once to a `.parameters()` generator and a later statement, before the optimizer's, iterates it to its end: a
    `for` over it, a comprehension or a consuming builtin over it, or a function of the file that loops over the
    parameter it is given. Any other binding or use of the name: None."""
    mod = analysis.module
    stmt = site.call
    while stmt is not None and not isinstance(mod.parent(stmt), (cst.IndentedBlock, cst.Module)):
        stmt = mod.parent(stmt)
    if stmt is None:
        return None
    body = list(mod.parent(stmt).body)
    index = next(i for i, s in enumerate(body) if s is stmt)
    source, consumer = None, None
    for earlier in body[:index]:
        assigns = [a for a in walk(earlier, cst.AssignTarget) if isinstance(a.target, cst.Name) and a.target.value == name]
        if assigns:
            value = mod.parent(assigns[0]).value if len(assigns) == 1 else None
            if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and
                    value.func.attr.value in ("parameters", "named_parameters") and isinstance(earlier, cst.SimpleStatementLine)):
                return None
            source, consumer = value, None
            continue
        if source is not None and consumer is None and _iterates(analysis, earlier, name):
            consumer = earlier
    return (source, consumer) if source is not None and consumer is not None else None


def _iterates(analysis, stmt: cst.CSTNode, name: str) -> bool:
    """The statement surely iterates `name` to its end."""
    mod = analysis.module
    def is_name(e):
        return isinstance(e, cst.Name) and e.value == name
    if isinstance(stmt, cst.For) and is_name(stmt.iter):
        return not any(True for _ in walk(stmt.body, cst.Break))
    for comp in walk(stmt, (cst.GeneratorExp, cst.ListComp, cst.SetComp, cst.DictComp)):
        if is_name(comp.for_in.iter) and comp.for_in.inner_for_in is None:
            parent = mod.parent(comp)
            if not isinstance(comp, cst.GeneratorExp) or \
                    isinstance(parent, cst.Arg) and mod.qualified(mod.parent(parent)) & _ITERATING:
                return True
    for call in walk(stmt, cst.Call):
        if call.args and is_name(call.args[0].value) and call.args[0].keyword is None and not call.args[0].star and \
                mod.qualified(call) & _ITERATING:
            return True
        given = _helper_parameter(analysis, call, name)
        if given is not None and _body_iterates(*given):
            return True
    return False


def _body_iterates(fn: cst.FunctionDef, param: str) -> bool:
    """A function of the file whose body loops over its parameter `param` (a `for` or a consumed comprehension)."""
    for node in walk(fn.body, (cst.For, cst.GeneratorExp, cst.ListComp, cst.SetComp, cst.DictComp)):
        iterable = node.iter if isinstance(node, cst.For) else node.for_in.iter
        if isinstance(iterable, cst.Name) and iterable.value == param:
            return True
    return False


def _left_by_a_loop(step) -> tuple | None:
    """(the step event, the `for` loop) when `name.step()` runs after a loop over optimizers that bound `name`."""
    receiver = step.node.func.value if isinstance(step.node.func, cst.Attribute) else None
    if not isinstance(receiver, cst.Name):
        return None
    mod = step.module
    bound_by = [mod.parent(b.node) for b in mod.scopes.bindings(receiver)]
    loops = [loop for loop in bound_by if isinstance(loop, cst.For) and isinstance(loop.target, cst.Name)]
    if not loops or len(loops) < len(bound_by) or not all(read_after_loop(mod, loop, step.node) for loop in loops):
        return None  # bound otherwise too, or read inside (or after a `break` of) a loop that binds it
    before = [loop for loop in loops if mod.line(loop) < mod.line(step.node)]
    return (step, max(before, key=mod.line)) if before else None


def _the_step(expr: cst.BaseExpression, step: str) -> bool:
    """`step`, or the step shifted by a constant (`step + 1`, `(epoch - 1)`)."""
    if isinstance(expr, cst.Name):
        return expr.value == step
    return isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Subtract)) and \
        {type(expr.left), type(expr.right)} == {cst.Name, cst.Integer} and \
        any(isinstance(side, cst.Name) and side.value == step for side in (expr.left, expr.right))


def _step_handed_to_helpers(analysis, factor: cst.BaseExpression, step: str, call: cst.Call, depth: int) -> list:
    """(params, body, step name, depth) of each function of the file that `factor` calls with the step as an
    argument: the helper's parameter in that place is the step there."""
    found = []
    for inner in walk(factor, cst.Call):
        given = _helper_parameter(analysis, inner, step)
        if given is not None:
            fn, param = given
            found.append((fn.params, fn.body, param, depth))
    return found


def _helper_parameter(analysis, call: cst.Call, name: str) -> tuple[cst.FunctionDef, str] | None:
    """(the function, its parameter) when `call` runs a function of the checked file and passes `name` positionally."""
    mod = analysis.module
    place = next((i for i, a in enumerate(call.args) if a.keyword is None and not a.star and
                  isinstance(a.value, cst.Name) and a.value.value == name), None)
    if place is None:
        return None
    found = analysis.flow.definition(call.func, Context(mod, mod.enclosing_function(call), mod.enclosing_class(call)))
    if not (isinstance(found, tuple) and found[0] is mod and isinstance(found[1], cst.FunctionDef)):
        return None
    params = found[1].params.params
    return (found[1], params[place].name.value) if place < len(params) else None


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
