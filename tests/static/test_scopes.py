"""The engine's own name resolution: what a name refers to, by Python's scoping rules."""
from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from graphlint.engine.scopes import CLASS, COMPREHENSION, FUNCTION, MODULE, ScopeIndex
from graphlint.engine.tree import walk


def names_in(source: str):
    tree = cst.parse_module(textwrap.dedent(source))
    return ScopeIndex(tree), tree


def reads(tree: cst.Module, name: str) -> list[cst.Name]:
    return [n for n in walk(tree, cst.Name) if n.value == name]


def qualified_of(source: str, expression: str) -> set[str]:
    """Qualified names of the last occurrence of ``expression`` (a name or dotted attribute)."""
    index, tree = names_in(source)
    found = [n for n in walk(tree, (cst.Name, cst.Attribute)) if tree.code_for_node(n) == expression]
    assert found, expression
    return set(index.qualified(found[-1]))


@pytest.mark.parametrize("source, expression, expected", [
    ("import torch\ntorch.no_grad", "torch.no_grad", {"torch.no_grad"}),
    ("from torch import no_grad as ng\nng", "ng", {"torch.no_grad"}),
    ("import torch.nn.functional as F\nF.relu", "F.relu", {"torch.nn.functional.relu"}),
    ("import torch.nn\ntorch.nn.Linear", "torch.nn.Linear", {"torch.nn.Linear"}),
    ("from torch import nn\nnn.Linear", "nn.Linear", {"torch.nn.Linear"}),
    ("from .model import Net\nNet", "Net", {"model.Net"}),  # a script beside model.py
    ("from . import model\nmodel.Net", "model.Net", {"model.Net"}),
    ("float", "float", {"builtins.float"}),
    ("from helpers import *\nevaluate", "evaluate", set()),
    ("class Net:\n    pass\nNet", "Net", {"Net"}),
])
def test_imports_and_builtins_resolve_to_dotted_names(source, expression, expected):
    assert qualified_of(source, expression) == expected


@pytest.mark.parametrize("statement, expected", [
    ("from .model import Net", "pkg.sub.model.Net"),
    ("from . import model", "pkg.sub.model"),
    ("from ..utils import Net", "pkg.utils.Net"),
    ("from .... import Net", "....Net"),
])
def test_relative_imports_resolve_against_the_package(statement, expected):
    bound = statement.rsplit(" ", 1)[-1]
    tree = cst.parse_module(f"{statement}\n{bound}\n")
    index = ScopeIndex(tree, package="pkg.sub")
    assert index.qualified(reads(tree, bound)[-1]) == {expected}


def test_a_local_shadows_an_import_only_inside_its_function():
    source = """
        from torch import nn
        def build():
            nn = make_layers()
            return nn.Linear
        def other():
            return nn.Linear
    """
    index, tree = names_in(source)
    inner, outer = [n for n in walk(tree, cst.Attribute) if tree.code_for_node(n) == "nn.Linear"]
    assert index.qualified(inner) == {"build.<locals>.nn.Linear"}
    assert index.qualified(outer) == {"torch.nn.Linear"}


def test_class_bodies_are_invisible_to_their_methods():
    source = """
        scale = 2
        class Net:
            scale = 3
            factor = scale
            def forward(self):
                return scale
    """
    index, tree = names_in(source)
    _, _, in_body, in_method = reads(tree, "scale")
    assert index.lookup(in_body).kind == CLASS
    assert index.lookup(in_method).kind == MODULE


def test_global_and_nonlocal_bind_in_the_declared_scope():
    source = """
        def outer():
            count = 0
            def bump():
                nonlocal count
                count = count + 1
            return bump
        def reset():
            global total
            total = 0
    """
    index, tree = names_in(source)
    outer_fn = next(f for f in walk(tree, cst.FunctionDef) if f.name.value == "outer")
    for name in reads(tree, "count"):
        scope = index.lookup(name)
        assert scope.kind == FUNCTION and scope.node is outer_fn
    assert len(index.lookup(reads(tree, "count")[0]).bindings["count"]) == 2
    assert index.lookup(reads(tree, "total")[-1]).kind == MODULE


def test_comprehensions_have_their_own_scope_but_walrus_escapes_it():
    source = """
        def f(xs):
            ys = [x * 2 for x in xs if (last := x)]
            return last, ys
    """
    index, tree = names_in(source)
    assert index.lookup(reads(tree, "x")[-1]).kind == COMPREHENSION
    assert index.lookup(reads(tree, "last")[-1]).kind == FUNCTION
    # the first iterable is evaluated outside the comprehension
    assert index.lookup(reads(tree, "xs")[-1]).kind == FUNCTION


def test_parameters_bind_in_the_function_and_defaults_are_read_outside():
    source = """
        lr = 0.1
        def train(model, lr=lr):
            return model, lr
    """
    index, tree = names_in(source)
    default = reads(tree, "lr")[2]  # lr = 0.1 / param name / default / body read
    assert index.lookup(default).kind == MODULE
    body = reads(tree, "lr")[-1]
    (binding,) = index.bindings(body)
    assert isinstance(binding.node, cst.Param)


def test_assignment_targets_bind_and_their_subscripts_are_reads():
    source = """
        a, (b, *c) = f()
        d[i] = 1
        with open(p) as (e, g):
            pass
        for h in range(3):
            pass
    """
    index, tree = names_in(source)
    for name in ("a", "b", "c", "e", "g", "h"):
        assert index.lookup(reads(tree, name)[0]) is not None, name
    for name in ("d", "i"):
        assert index.lookup(reads(tree, name)[0]) is None, name


def test_module_level_nonlocal_is_refused():
    with pytest.raises(ValueError, match="nonlocal"):
        names_in("nonlocal x\n")
