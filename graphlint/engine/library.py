"""Which library entry points a call runs, so that the knowledge tables can be asked about it.

A call's own qualified names come from the imports (`torch.argmax`). A call on an object
that a library made is named by that library's class: `pipe(prompt)` after
`pipe = StableDiffusionPipeline.from_pretrained(...)` runs
`diffusers.StableDiffusionPipeline.__call__`, and `accelerator.prepare(...)` after
`accelerator = Accelerator()` runs `accelerate.Accelerator.prepare`. Classes are found by
following the names an object was assigned from; anything else stays unnamed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from graphlint.engine.flow import Context, FlowGraph

MAX_DEPTH = 4


def entry_points(flow: "FlowGraph", call: cst.Call, ctx: "Context") -> set[str]:
    """The qualified names of what a call runs: its own, and `Class.method` / `Class.__call__` for objects
    made by a library class."""
    found = set(ctx.module.qualified(call))
    func = call.func
    if isinstance(func, cst.Attribute):  # `obj.method(...)`, or `self.layer(...)` calling an object
        found |= {f"{cls}.{func.attr.value}" for cls in library_classes(flow, func.value, ctx)}
    found |= {f"{cls}.__call__" for cls in library_classes(flow, func, ctx)}
    return found


def library_classes(flow: "FlowGraph", expr: cst.BaseExpression, ctx: "Context", depth: int = 0) -> set[str]:
    """The library classes (or factories) an expression's object was made by: `X(...)`, `X.from_pretrained(...)`,
    `factory(...)` of an imported name, through assignments and `.to(device)`-like calls."""
    if depth > MAX_DEPTH:
        return set()
    if isinstance(expr, cst.Name):
        found: set[str] = set()
        for value, vctx in flow.assigned_values(expr, ctx):
            found |= library_classes(flow, value, vctx, depth + 1)
        return found
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self" \
            and ctx.cls is not None:
        from graphlint.engine.flow import Context

        found = set()
        for value, method in ctx.cls.attr_values.get(expr.attr.value, ()):
            found |= library_classes(flow, value, Context(ctx.cls.module, method, ctx.cls), depth + 1)
        return found
    if not isinstance(expr, cst.Call):
        return set()
    func = expr.func
    if isinstance(func, cst.Attribute) and flow.knowledge.matches("returns.same-object", (), func.attr.value):
        return library_classes(flow, func.value, ctx, depth + 1)
    if not _is_imported(func, ctx):
        return set()
    made = set()
    for name in ctx.module.qualified(func):
        owner, _, last = name.rpartition(".")
        made.add(owner if last.startswith("from_") and owner else name)  # X.from_pretrained(...) makes an X
    return made


def ancestor_bases(cls) -> set[str]:
    """Qualified names of a class's bases, and of theirs for bases defined in the same file."""
    found: set[str] = set()
    stack, seen = [cls], set()
    while stack:
        current = stack.pop()
        if current.key in seen:
            continue
        seen.add(current.key)
        for base in current.bases:
            found.add(base)
            local = current.module.classes.get(base.rsplit(".", 1)[-1])
            if local is not None:
                stack.append(local)
    return found


def _is_imported(func: cst.BaseExpression, ctx: "Context") -> bool:
    """The callee's name comes from an import (a library's, or another analysed file's)."""
    root = func
    while isinstance(root, cst.Attribute):
        root = root.value
    return isinstance(root, cst.Name) and any(b.imported is not None for b in ctx.module.scopes.bindings(root))


def is_library_function(flow: "FlowGraph", func: cst.BaseExpression, ctx: "Context", depth: int = 0) -> bool:
    """A call into another library's function (`np.mean`, `utils.evaluate(model)`, `init = deepspeed.initialize;
    init(...)`): we cannot tell whether its result is a tensor on the graph. Tensor methods, torch functions
    and layers called on data can."""
    mod = ctx.module
    root = func
    while isinstance(root, cst.Attribute):
        root = root.value
    if not isinstance(root, cst.Name):
        return False
    qualified = mod.qualified(func)
    if any(q.startswith("torch.") for q in qualified) or flow.knowledge.matches("returns.computed", qualified):
        return False
    bindings = mod.scopes.bindings(root)
    if any(b.imported is not None for b in bindings):
        return True
    if not bindings:  # a star import's name (builtins resolve to `builtins.*`)
        return isinstance(func, cst.Name) and not qualified
    if func is root and depth < 2 and all(isinstance(b.node, cst.Name) for b in bindings):
        values = list(flow.assigned_values(root, ctx))  # a local name for another library's function
        return bool(values) and all(isinstance(v, (cst.Name, cst.Attribute)) and is_library_function(flow, v, c, depth + 1)
                                    for v, c in values)
    return False


def is_library_object(flow: "FlowGraph", func: cst.BaseExpression, ctx: "Context") -> bool:
    """The callee is an object another library made, or its method (`env.step(action)`, `meter.update(loss)`):
    what it does with its arguments is unknown (a model it made still computes from its own parameters)."""
    receiver = func.value if isinstance(func, cst.Attribute) else func
    made_by = library_classes(flow, receiver, ctx) | library_classes(flow, func, ctx)
    return bool(made_by) and not any(c.startswith("torch.") for c in made_by)


def is_backward_helper(receiver: cst.BaseExpression, mod) -> bool:
    """`accelerator.backward(loss)`, `fabric.backward(loss)`, `self.manual_backward(loss)`: the loss is the argument."""
    text = mod.code(receiver).lower()
    return any(word in text for word in ("accelerator", "fabric", "self", "trainer", "engine", "strategy"))
