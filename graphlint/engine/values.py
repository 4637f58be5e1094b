"""The value model: what kind of value an expression holds, asked of the flow graph.

It answers one question for rules: is this a tensor that carries an autograd graph (computed,
with grad mode on, from a trainable parameter), a tensor without one (inputs, batches,
constants, results under no-grad or of calls the knowledge tables say build no graph), a leaf
parameter, a Python scalar, string or container, another object (a layer, an optimizer, a hook
handle), or unknown. A value is said to carry a graph only on positive evidence: a route from a
parameter through computations the engine understands. Whatever passes through a call it cannot
read (another library's function, an object handed to a wrapper) is unknown, and unknown never
becomes a finding.

It also evaluates the few Python numbers rules need (a schedule factor at the start of training).
"""
from __future__ import annotations

import enum
import math
from collections import deque
from functools import cached_property
from typing import Callable

import libcst as cst

from graphlint.engine.flow import Context, FlowGraph, Node, Value, is_string
from graphlint.engine.library import entry_points


class Kind(enum.Enum):
    GRAPH = "a tensor that carries an autograd graph"
    TENSOR = "a tensor without a graph"
    PARAMETER = "a leaf parameter"
    SCALAR = "a Python number"
    STRING = "a string"
    CONTAINER = "a Python container"
    OBJECT = "an object that is not a tensor (a layer, an optimizer, a handle)"
    UNKNOWN = "unknown"


# What each kind of cut leaves behind.
_CUT_KINDS = {"detach": Kind.TENSOR, "no-grad": Kind.TENSOR, "rewrap": Kind.TENSOR, "non-differentiable": Kind.TENSOR,
              "scalar-escape": Kind.SCALAR}


class ValueModel:
    def __init__(self, flow: FlowGraph) -> None:
        self.flow = flow
        self.graph = flow.graph

    @cached_property
    def carrying_graph(self) -> frozenset[Node]:
        return self._from_parameters[1]

    @cached_property
    def _from_parameters(self) -> tuple[frozenset[Node], frozenset[Node]]:
        """Nodes whose value surely carries autograd history from a trainable parameter: computed from one (through
        at least one operation: the layer object itself, or another name for it, is not a tensor with a graph),
        reached without a cut, without entering an object (a layer, a leaf parameter, an optimizer), and without
        passing where the engine loses sight of the computation: an object handed to a call that may return it
        held rather than computed (`wrapper.setup(model)`, `model.state_dict()`), an element of a value of unknown
        shape, another library's function, or a value handed to another library's object (whose result may be a
        number). A computed tensor handed to a layer the file cannot read (`self.act(out)`) stays computed.
        Returns the nodes reached (a parameter or another name for one included) and those computed."""
        computed: set[Node] = set()
        seen: set[tuple[Node, bool]] = {(owner, False) for owner in self.flow.owners()}
        queue = deque(seen)
        while queue:
            current, derived = queue.popleft()
            for succ in self.graph.successors(current):
                edge = self.graph.edges[current, succ]
                data = self.graph.nodes[succ]
                if edge["cut"] is not None or edge["held"] and (not derived or data.get("library_object")) or \
                        succ[0] == "part" or data.get("library_function") or \
                        data.get("kind") in ("owner", "instance", "optimizer") or self._unseen_callable(succ, data):
                    continue
                state = (succ, derived or not edge["alias"])
                if state not in seen:
                    seen.add(state)
                    queue.append(state)
                    if state[1]:
                        computed.add(succ)
        return frozenset(node for node, _ in seen), frozenset(computed)

    def _unseen_callable(self, node: Node, data: dict) -> bool:
        """The result of calling a loop variable that holds no object the file made (`fn(labels, preds)` for each
        `fn` of a dict of metric functions): what the callable returns is unknown. Calling each layer of a
        list of layers (`for layer in self.layers: x = layer(x)`) still computes."""
        callee = data.get("taken_from_a_container")
        return bool(callee) and not any(self.flow.points_to(n) for n in callee.nodes)

    def carries_graph(self, value: Value) -> bool:
        """The value is one that carries a graph, or is computed from one or from a parameter."""
        reached, computed = self._from_parameters
        return bool(value.alias & computed or value.derive & reached)

    def kind(self, expr: cst.BaseExpression, ctx: Context, value: Value | None = None) -> Kind:
        """The kind of value an expression evaluates to; a container counts as GRAPH when an element does
        (keeping the container keeps the graph). ``value``: the expression's value where it was evaluated
        (which definitions of a name reach that point), when the caller kept it."""
        if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary)) or \
                isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
            return Kind.SCALAR
        if is_string(expr):
            return Kind.STRING
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set, cst.Dict)):
            items = [el.value for el in expr.elements if isinstance(el, (cst.Element, cst.DictElement, cst.StarredElement))]
            known = value.elements if value is not None and value.elements is not None else \
                tuple(v for _, v in value.fields) if value is not None and value.fields is not None else None
            item_values = known if known is not None and len(known) == len(items) else (None,) * len(items)
            return Kind.GRAPH if any(self.kind(e, ctx, v) is Kind.GRAPH for e, v in zip(items, item_values)) \
                else Kind.CONTAINER
        value = value if value is not None else self.flow.eval(expr, ctx)
        if self.carries_graph(value):
            return Kind.GRAPH
        if not value.nodes:
            return self._without_nodes(expr, ctx)
        # computed from a tensor is a tensor, from a number a number; what is computed from an object is unknown
        kinds = {self._node_kind(n) for n in value.alias} | \
            {k if k is not Kind.OBJECT else Kind.UNKNOWN for k in map(self._node_kind, value.derive)}
        found = kinds.pop() if len(kinds) == 1 else Kind.UNKNOWN
        # `m.weight`, `m.training`: an attribute of a library object shares the object's nodes, but is not it
        return Kind.UNKNOWN if found is Kind.OBJECT and isinstance(expr, cst.Attribute) and \
            value.nodes == self.flow.eval(expr.value, ctx).nodes else found

    def _without_nodes(self, expr: cst.BaseExpression, ctx: Context) -> Kind:
        """An expression the flow graph gives no node: a constant, or a call the tables say builds no graph."""
        if isinstance(expr, cst.Call):
            kb, mod = self.flow.knowledge, ctx.module
            method = expr.func.attr.value if isinstance(expr.func, cst.Attribute) else None
            qualified = entry_points(self.flow, expr, ctx)
            if isinstance(expr.func, cst.Attribute) and is_string(expr.func.value) or \
                    mod.qualified(expr) & {"builtins.str", "builtins.repr", "builtins.format"}:
                return Kind.STRING  # ", ".join(names), str(x)
            if kb.matches("returns.fresh", qualified):
                return Kind.TENSOR
            if kb.matches("returns.non-tensor", qualified, method):
                return Kind.OBJECT
        if isinstance(expr, (cst.Comparison, cst.BooleanOperation, cst.UnaryOperation, cst.BinaryOperation)):
            return Kind.SCALAR  # of constants only: a node would carry anything else
        return Kind.UNKNOWN

    def _node_kind(self, node: Node) -> Kind:
        """A cut's result, or what the objects a name holds are (every one of them)."""
        if node[0] == "cut":
            return _CUT_KINDS.get(node[2], Kind.UNKNOWN)
        kinds = {self._object_kind(obj) for obj in self.flow.points_to(node)}
        return kinds.pop() if len(kinds) == 1 else Kind.UNKNOWN

    def _object_kind(self, obj: Node) -> Kind:
        data = self.graph.nodes[obj] if obj in self.graph else {}
        if data.get("leaf"):
            return Kind.PARAMETER
        if obj[0] == "class" or data.get("kind") in ("owner", "instance", "optimizer"):
            return Kind.OBJECT
        inputs = [self.graph.edges[p, obj]["cut"] for p in self.graph.predecessors(obj)] if obj in self.graph else []
        if data.get("kind") == "tensor" or inputs and all(cut is not None for cut in inputs):
            return Kind.TENSOR  # a fresh tensor, or one computed only under no-grad / from detached values
        return Kind.UNKNOWN

    # -- Python numbers ----------------------------------------------------------------------------
    def number(self, expr: cst.BaseExpression, known: Callable[[cst.BaseExpression], float | None] = lambda e: None
               ) -> float | None:
        """The value of an arithmetic expression of literals, with ``known`` giving the values of some
        sub-expressions (the step's floor division during warm-up); None when it depends on anything else.
        `0 * unknown` is 0: a factor that is zero stays zero whatever it multiplies."""
        given = known(expr)
        if given is not None:
            return given
        if isinstance(expr, (cst.Integer, cst.Float)):
            return float(expr.evaluated_value)
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            inner = self.number(expr.expression, known)
            return -inner if inner is not None else None
        if isinstance(expr, cst.BinaryOperation):
            left, right = self.number(expr.left, known), self.number(expr.right, known)
            if isinstance(expr.operator, cst.Multiply) and 0.0 in (left, right):
                return 0.0
            if left is None or right is None:
                return None
            return _arithmetic(expr.operator, left, right)
        called = _called(expr)
        if called in ("min", "max", "pow", "math.pow", "float") and all(a.keyword is None and not a.star for a in expr.args):
            values = [self.number(a.value, known) for a in expr.args]
            if None in values or not values:
                return None
            if called in ("pow", "math.pow"):
                return _arithmetic(cst.Power(), *values) if len(values) == 2 else None
            return values[0] if called == "float" else (min if called == "min" else max)(values)
        return None


def _called(expr: cst.BaseExpression) -> str:
    """`min` for `min(a, b)`, `math.pow` for `math.pow(a, b)`; '' for anything else."""
    if not isinstance(expr, cst.Call):
        return ""
    func = expr.func
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        return f"{func.value.value}.{func.attr.value}"
    return ""


def _arithmetic(op: cst.BaseBinaryOp, left: float, right: float) -> float | None:
    try:
        if isinstance(op, cst.Add):
            return left + right
        if isinstance(op, cst.Subtract):
            return left - right
        if isinstance(op, cst.Multiply):
            return left * right
        if isinstance(op, cst.Divide):
            return left / right
        if isinstance(op, cst.FloorDivide):
            return float(left // right)
        if isinstance(op, cst.Power):
            result = left ** right
            return float(result) if isinstance(result, (int, float)) and math.isfinite(result) else None
    except (ZeroDivisionError, OverflowError):
        return None
    return None
