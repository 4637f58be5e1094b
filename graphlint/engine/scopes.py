"""Names and scopes of one file: where a name is bound, by what, and what an import makes of it.

libcst's ScopeProvider answers these questions too, but it records every access of every
name and took most of a file's analysis time. The engine needs less: the scope each name is
read in, the statements that bind a name in a scope (assignment targets, parameters,
definitions, imports), and the dotted name an import stands for. One walk over the tree
records exactly that; lookups follow Python's rules (LEGB, class bodies invisible to the
functions inside them, `global`/`nonlocal`, comprehensions with their own scope).
"""
from __future__ import annotations

import builtins

from dataclasses import dataclass, field

import libcst as cst

from graphlint.engine.tree import child_nodes

MODULE, FUNCTION, CLASS, COMPREHENSION = "module", "function", "class", "comprehension"


@dataclass(frozen=True, eq=False)
class Binding:
    # the binding node: a Name target, a Param, a FunctionDef or ClassDef, an Import or ImportFrom
    node: cst.CSTNode
    imported: str | None = None  # for imports: the dotted name that the bound name stands for


@dataclass(eq=False)
class Scope:
    kind: str
    node: cst.CSTNode  # the Module, FunctionDef, Lambda, ClassDef or comprehension that opens it
    parent: Scope | None
    prefix: str  # how names bound here are qualified: "train.<locals>", "Net", ""
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    redirects: dict[str, Scope] = field(default_factory=dict)  # `global x` / `nonlocal x`

    def bind(self, name: str, binding: Binding) -> None:
        target = self.redirects.get(name, self)
        target.bindings.setdefault(name, []).append(binding)

    def visible_parent(self) -> Scope | None:
        """The nearest enclosing scope whose names this one sees (class bodies are skipped)."""
        scope = self.parent
        while scope is not None and scope.kind == CLASS:
            scope = scope.parent
        return scope


class ScopeIndex:
    """The scopes of a module, built in one iterative walk (no recursion: deep expressions)."""

    def __init__(self, tree: cst.Module, package: str = "") -> None:
        self.package = package
        self.module_scope = Scope(MODULE, tree, None, "")
        self._scope_of: dict[cst.Name, Scope] = {}
        self._nonlocals: list[tuple[Scope, str]] = []
        self._walk(tree)
        self._resolve_nonlocals()

    # -- questions ------------------------------------------------------------------------
    def scope_of(self, name: cst.Name) -> Scope | None:
        """The scope a name appears in (for a target: the scope it is written in)."""
        return self._scope_of.get(name)

    def lookup(self, name: cst.Name) -> Scope | None:
        """The scope whose binding a name refers to; None for builtins and unbound names."""
        scope = self._scope_of.get(name)
        first = True
        while scope is not None:
            redirected = scope.redirects.get(name.value)
            if redirected is not None:
                scope = redirected
            if name.value in scope.bindings and (first or scope.kind != CLASS):
                return scope
            scope, first = scope.parent, False
        return None

    def bindings(self, name: cst.Name) -> list[Binding]:
        scope = self.lookup(name)
        return scope.bindings[name.value] if scope is not None else []

    def qualified(self, node: cst.CSTNode) -> frozenset[str]:
        """Dotted names of a name or attribute chain through the file's imports:
        `F.relu` after `import torch.nn.functional as F` is `torch.nn.functional.relu`; a
        builtin is `builtins.<name>`; a name bound in the file is qualified by its scope."""
        parts: list[str] = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if not isinstance(node, cst.Name):
            return frozenset()
        rest = "".join("." + p for p in reversed(parts))
        scope = self.lookup(node)
        if scope is None:
            return frozenset({f"builtins.{node.value}{rest}"}) if hasattr(builtins, node.value) else frozenset()
        found = set()
        for binding in scope.bindings[node.value]:
            if binding.imported is not None:
                found.add(binding.imported + rest)
            else:
                found.add(f"{scope.prefix}.{node.value}{rest}" if scope.prefix else node.value + rest)
        return frozenset(found)

    # -- building -------------------------------------------------------------------------
    def _walk(self, tree: cst.Module) -> None:
        stack: list[tuple[cst.CSTNode, Scope]] = [(tree, self.module_scope)]
        while stack:
            node, scope = stack.pop()
            kind = type(node)
            if kind is cst.Name:
                self._scope_of[node] = scope
            elif kind is cst.Attribute:
                stack.append((node.value, scope))  # `.attr` is not a variable
            elif kind is cst.Arg:
                stack.append((node.value, scope))  # nor is a keyword argument's name
            elif kind in _DEFINITIONS:
                self._definition(node, scope, stack)
            elif kind in _COMPREHENSIONS:
                self._comprehension(node, scope, stack)
            elif kind is cst.Param:
                self._scope_of[node.name] = scope
                scope.bind(node.name.value, Binding(node))
                outer = scope.parent or scope  # defaults and annotations are evaluated outside
                stack.extend((part, outer) for part in (node.default, node.annotation) if part is not None)
            elif kind is cst.Import or kind is cst.ImportFrom:
                self._import(node, scope)
            elif kind is cst.Global or kind is cst.Nonlocal:
                self._declare(node, scope)
            else:
                children = child_nodes(node)
                target = _target(node)
                if target is not None:
                    self._bind_target(target, scope, stack, node)
                    children = [c for c in children if c is not target]
                stack.extend((child, scope) for child in reversed(children))

    def _definition(self, node: cst.FunctionDef | cst.ClassDef | cst.Lambda, scope: Scope, stack: list) -> None:
        outer: list[cst.CSTNode] = list(getattr(node, "decorators", ()))
        if isinstance(node, cst.Lambda):
            inner = Scope(FUNCTION, node, scope, _join(scope.prefix, "<lambda>", "<locals>"))
            stack.append((node.body, inner))
            stack.append((node.params, inner))
            return
        self._scope_of[node.name] = scope
        scope.bind(node.name.value, Binding(node))
        if isinstance(node, cst.FunctionDef):
            inner = Scope(FUNCTION, node, scope, _join(scope.prefix, node.name.value, "<locals>"))
            if node.returns is not None:
                outer.append(node.returns)
            stack.append((node.body, inner))
            stack.append((node.params, inner))
        else:
            inner = Scope(CLASS, node, scope, _join(scope.prefix, node.name.value))
            outer.extend(node.bases)
            outer.extend(node.keywords)
            stack.append((node.body, inner))
        stack.extend((part, scope) for part in reversed(outer))

    def _comprehension(self, node, scope: Scope, stack: list) -> None:
        """The first iterable is evaluated outside; targets, conditions and elements inside."""
        inner = Scope(COMPREHENSION, node, scope, _join(scope.prefix, "<comprehension>"))
        results = (node.key, node.value) if isinstance(node, cst.DictComp) else (node.elt,)
        stack.extend((part, inner) for part in reversed(results))
        for_in = node.for_in
        while for_in is not None:
            stack.extend((cond, inner) for cond in reversed(for_in.ifs))
            self._bind_target(for_in.target, inner, stack, for_in)
            if for_in is not node.for_in:
                stack.append((for_in.iter, inner))
            for_in = for_in.inner_for_in
        stack.append((node.for_in.iter, scope))

    def _import(self, node: cst.Import | cst.ImportFrom, scope: Scope) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        base = self._import_base(node) if isinstance(node, cst.ImportFrom) else ""
        for alias in node.names:
            full = _dotted(alias.name)
            if isinstance(node, cst.ImportFrom):
                full = f"{base}.{full}" if base and not base.endswith(".") else base + full
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                bound, stands_for = alias.asname.name.value, full
            elif isinstance(node, cst.Import):
                bound = stands_for = full.split(".", 1)[0]  # `import a.b` binds `a`
            else:
                bound, stands_for = full.rsplit(".", 1)[-1], full
            scope.bind(bound, Binding(node, stands_for))

    def _import_base(self, node: cst.ImportFrom) -> str:
        """The module a `from ... import` reads from; a relative one is resolved against the file's package
        when that is known (`from .model import Net` in pkg/train.py is `pkg.model`), else kept with its dots."""
        module = _dotted(node.module) if node.module is not None else ""
        level = len(node.relative)
        if not level:
            return module
        package = self.package.split(".") if self.package else []
        if level - 1 > len(package):  # above the top package: keep it visibly relative
            return "." * level + module
        return ".".join(package[:len(package) - level + 1] + ([module] if module else []))

    def _declare(self, node: cst.Global | cst.Nonlocal, scope: Scope) -> None:
        """`global x` redirects at once (Python requires it before any use of x); `nonlocal x`
        is resolved after the walk, when the enclosing functions' later bindings are known."""
        for item in node.names:
            self._scope_of[item.name] = scope
            if isinstance(node, cst.Nonlocal):
                if scope.kind == MODULE:
                    raise ValueError("nonlocal declaration not allowed at module level")
                self._nonlocals.append((scope, item.name.value))
            elif scope.kind != MODULE:
                scope.redirects[item.name.value] = self.module_scope

    def _resolve_nonlocals(self) -> None:
        for scope, name in self._nonlocals:  # outer declarations come first: the walk is in source order
            target = scope.visible_parent()
            while target is not None and target.kind != MODULE and name not in target.bindings:
                target = target.visible_parent()
            if target is None or target.kind == MODULE:
                raise ValueError(f"no binding for nonlocal '{name}' found")
            scope.redirects[name] = target
            target.bindings.setdefault(name, []).extend(scope.bindings.pop(name, []))

    def _bind_target(self, target: cst.BaseExpression, scope: Scope, stack: list, site: cst.CSTNode) -> None:
        """Bind the names an assignment target writes; attributes and subscripts in it are reads."""
        pending = [target]
        while pending:
            expr = pending.pop()
            if isinstance(expr, cst.Name):
                bound_in = scope
                if isinstance(site, cst.NamedExpr):  # `(y := f(x))` binds outside comprehensions
                    while bound_in.kind == COMPREHENSION and bound_in.parent is not None:
                        bound_in = bound_in.parent
                self._scope_of[expr] = bound_in
                bound_in.bind(expr.value, Binding(expr))
            elif isinstance(expr, (cst.Tuple, cst.List)):
                pending.extend(element.value for element in expr.elements)
            elif isinstance(expr, cst.StarredElement):
                pending.append(expr.value)
            else:
                stack.append((expr, scope))


_DEFINITIONS = frozenset({cst.FunctionDef, cst.ClassDef, cst.Lambda})
_COMPREHENSIONS = frozenset({cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp})


def _target(node: cst.CSTNode) -> cst.BaseExpression | None:
    """The store target a statement or expression writes (its other parts are reads)."""
    kind = type(node)
    if kind in _TARGET_FIELDS:
        return getattr(node, _TARGET_FIELDS[kind])
    return None


# `with f() as x` and `except E as e` bind through AsName (imports are handled before)
_TARGET_FIELDS = {cst.AssignTarget: "target", cst.AnnAssign: "target", cst.AugAssign: "target",
                  cst.NamedExpr: "target", cst.For: "target", cst.AsName: "name", cst.MatchAs: "name",
                  cst.MatchStar: "name", cst.MatchMapping: "rest"}


def _dotted(node: cst.BaseExpression) -> str:
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    parts.append(node.value if isinstance(node, cst.Name) else "")
    return ".".join(reversed(parts))


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)
