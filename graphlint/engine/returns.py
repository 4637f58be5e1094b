"""What a function returns, read from its `return` statements: every one of them, a common tuple arity, the
string keys of a dict literal. The flow graph uses these shapes to give each element of a returned tuple or
dict its own node (`loss, logits = step(batch)`, `out["loss"]`)."""
from __future__ import annotations

from functools import lru_cache

import libcst as cst

from graphlint.engine.tree import walk


@lru_cache(maxsize=256)
def returns_of(fn: cst.FunctionDef) -> tuple[cst.Return, ...]:
    return tuple(walk(fn.body, cst.Return))


def string_key(element) -> str | None:
    if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
        return element.key.evaluated_value
    return None


def dict_keys(fn: cst.FunctionDef) -> tuple[str, ...]:
    """The keys when every `return` of fn returns a dict literal with the same string keys."""
    shapes = set()
    for r in returns_of(fn):
        if r.value is None:
            continue
        if not isinstance(r.value, cst.Dict):
            return ()
        keys = tuple(string_key(el) for el in r.value.elements)
        if not keys or None in keys:
            return ()
        shapes.add(keys)
    return shapes.pop() if len(shapes) == 1 else ()


def tuple_arity(fn: cst.FunctionDef) -> int:
    """n when every `return` of fn returns an n-tuple literal, else 0."""
    arities = {len(r.value.elements) if isinstance(r.value, cst.Tuple) else -1 for r in returns_of(fn) if r.value is not None}
    return arities.pop() if len(arities) == 1 and -1 not in arities else 0
