"""Walking libcst trees fast: a node's children from its dataclass fields, by exact type.

Walking is most of the engine's time; libcst's own ``.children`` and matchers run a
visitor or ABC checks per node, which costs more than the analysis itself.
"""
from __future__ import annotations

import dataclasses

from functools import lru_cache

import libcst as cst


def walk(node: cst.CSTNode, types: type | tuple[type, ...]):
    """Every descendant of ``node`` (itself included) of the given types, in source order.

    An explicit stack instead of recursion (deep expressions) and instead of
    libcst.matchers, whose import alone costs more than analysing a file.
    """
    wanted, prune = _walk_plan(types if isinstance(types, tuple) else (types,))
    stack = [node]
    while stack:
        current = stack.pop()
        kind = type(current)
        if kind in wanted:
            yield current
        if kind not in prune:
            stack.extend(reversed(child_nodes(current)))


@lru_cache(maxsize=None)
def _walk_plan(types: tuple[type, ...]) -> tuple[frozenset[type], frozenset[type]]:
    """The node classes to yield, and those not to descend into: statements never sit inside
    expressions, so a walk for statements skips every expression's subtree."""
    wanted = _concrete_types(types)
    statements = _concrete_types((cst.BaseStatement, cst.BaseSmallStatement))
    return wanted, (_concrete_types((cst.BaseExpression,)) if wanted <= statements else frozenset())


@lru_cache(maxsize=None)
def _concrete_types(types: tuple[type, ...]) -> frozenset[type]:
    """The classes that are instances of ``types``: libcst's node classes are ABCs, and
    ``isinstance`` against an ABC costs more than the rest of a walk."""
    found: set[type] = set()
    stack = list(types)
    while stack:
        cls = stack.pop()
        if cls not in found:
            found.add(cls)
            stack.extend(cls.__subclasses__())
    return frozenset(found)


_NODE_FIELDS: dict[type, tuple[str, ...]] = {}
_NODE_CLASSES = _concrete_types((cst.CSTNode,))


def child_nodes(node: cst.CSTNode) -> list[cst.CSTNode]:
    """A node's child nodes in field (source) order.

    libcst's own ``.children`` runs a visitor per call; reading the dataclass fields is
    many times faster, and walking is most of the engine's time.
    """
    names = _NODE_FIELDS.get(type(node))
    if names is None:
        names = _NODE_FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node)
                                                 if not f.name.startswith("whitespace"))
    out = []
    for name in names:
        value = getattr(node, name)
        if type(value) in _NODE_CLASSES:
            out.append(value)
        elif type(value) in (list, tuple):
            out.extend(v for v in value if type(v) in _NODE_CLASSES)
    return out
