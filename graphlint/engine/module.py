"""One parsed source file with the metadata the rest of the engine asks about.

Parsing and metadata resolution happen once per file; classes, functions and
assignments are indexed here so that the flow analysis can look them up by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from graphlint.engine import names
from graphlint.engine.scopes import ScopeIndex
from graphlint.engine.tree import child_nodes, walk


@dataclass
class ClassInfo:
    module: "ModuleAnalysis"
    node: cst.ClassDef
    key: str
    bases: list[str]  # qualified names of the base classes
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)
    # attribute name -> values assigned to `self.<name>` anywhere in the class, with their method
    attr_values: dict[str, list[tuple[cst.BaseExpression, cst.FunctionDef]]] = field(default_factory=dict)
    # class-body defaults (dataclass fields, class attributes): name -> value
    field_defaults: dict[str, cst.BaseExpression] = field(default_factory=dict)

    @cached_property
    def self_reads(self) -> dict[str, list[tuple[cst.Attribute, str]]]:
        """Attribute name -> reads of `self.<name>` in the methods, with the method's name (one walk per class)."""
        reads: dict[str, list[tuple[cst.Attribute, str]]] = {}
        for name, method in self.methods.items():
            for node in walk(method.body, cst.Attribute):
                if isinstance(node.value, cst.Name) and node.value.value == "self" and not self.module.is_written(node):
                    reads.setdefault(node.attr.value, []).append((node, name))
        return reads


class ModuleAnalysis:
    def __init__(self, text: str, path: str, module_name: str = "") -> None:
        self.text = text
        self.path = path
        self.module_name = module_name
        self.wrapper = MetadataWrapper(cst.parse_module(text), unsafe_skip_copy=True)
        self.tree = self.wrapper.module
        # the package that relative imports start from (`from .model import Net`)
        package = module_name if path.endswith("__init__.py") else module_name.rpartition(".")[0]
        self.scopes = ScopeIndex(self.tree, package)
        # one pass of our own instead of ParentNodeProvider: parents, and every node by type
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self._by_type: dict[type, list[cst.CSTNode]] = {}
        stack = [self.tree]
        while stack:
            node = stack.pop()
            self._by_type.setdefault(type(node), []).append(node)
            children = child_nodes(node)
            for child in children:
                self.parents[child] = node
            stack.extend(reversed(children))
        self.classes: dict[str, ClassInfo] = {}
        self.functions: dict[str, cst.FunctionDef] = {}
        self._index()

    # -- metadata -------------------------------------------------------------------------
    @cached_property
    def _positions(self):
        """Positions are resolved on first use: most files have no finding to place."""
        return self.wrapper.resolve(PositionProvider)

    def position(self, node: cst.CSTNode) -> CodeRange:
        return self._positions[node]

    def line(self, node: cst.CSTNode) -> int:
        return self._positions[node].start.line

    def qualified(self, node: cst.CSTNode) -> set[str]:
        """Qualified names of a name/attribute/call, e.g. {'torch.no_grad'}; empty if unknown."""
        if isinstance(node, cst.Call):
            node = node.func
        return set(self.scopes.qualified(node))

    def is_any(self, node: cst.CSTNode, candidates: frozenset[str]) -> bool:
        return bool(self.qualified(node) & candidates)

    def code(self, node: cst.CSTNode, limit: int = 60) -> str:
        text = " ".join(self.tree.code_for_node(node).split())
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def all(self, node_type: type) -> list:
        """Every node of one type in the file, in source order (without walking the tree again)."""
        return self._by_type.get(node_type, [])

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(node)

    def is_written(self, node: cst.CSTNode) -> bool:
        """The target of an assignment (`node = ...`), not a read."""
        parent = self.parents.get(node)
        return isinstance(parent, cst.AssignTarget) and parent.target is node

    def ancestors(self, node: cst.CSTNode):
        node = self.parents.get(node)
        while node is not None:
            yield node
            node = self.parents.get(node)

    def enclosing_function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        return next((a for a in self.ancestors(node) if isinstance(a, cst.FunctionDef)), None)

    def enclosing_class(self, node: cst.CSTNode) -> ClassInfo | None:
        for a in self.ancestors(node):
            if isinstance(a, cst.ClassDef):
                return self.classes.get(a.name.value)
        return None

    # -- index ----------------------------------------------------------------------------
    def _index(self) -> None:
        for stmt in self.tree.body:
            if isinstance(stmt, cst.FunctionDef):
                self.functions[stmt.name.value] = stmt
            elif isinstance(stmt, cst.ClassDef):
                self._index_class(stmt)

    def _index_class(self, node: cst.ClassDef) -> None:
        bases = []
        for arg in node.bases:
            bases.extend(self.qualified(arg.value) or {self.code(arg.value)})
        info = ClassInfo(self, node, f"{self.path}::{node.name.value}", bases)
        for stmt in node.body.body:
            if isinstance(stmt, cst.FunctionDef):
                info.methods[stmt.name.value] = stmt
            elif isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
                        info.field_defaults[small.target.value] = small.value
                    elif isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                        info.field_defaults[small.targets[0].target.value] = small.value
        for method in info.methods.values():
            for assign in walk(method, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                value = assign.value
                if value is None:
                    continue
                targets = [t.target for t in assign.targets] if isinstance(assign, cst.Assign) else [assign.target]
                for target in targets:
                    for attr, val in _self_attr_targets(target, value):
                        info.attr_values.setdefault(attr, []).append((val, method))
        self.classes[node.name.value] = info

    @cached_property
    def module_classes(self) -> set[str]:
        """Names of classes in this file that are nn.Module subclasses (directly or via another class here)."""
        result: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, info in self.classes.items():
                if name in result:
                    continue
                if any(b in names.MODULE_BASES or b.rsplit(".", 1)[-1] in result or b in result
                       for b in info.bases):
                    result.add(name)
                    changed = True
        return result

    def class_method(self, cls: ClassInfo, name: str) -> cst.FunctionDef | None:
        """A method of ``cls`` or of a base class defined in the same file."""
        seen = set()
        while cls is not None and cls.key not in seen:
            seen.add(cls.key)
            if name in cls.methods:
                return cls.methods[name]
            cls = next((self.classes[b.rsplit(".", 1)[-1]] for b in cls.bases
                        if b.rsplit(".", 1)[-1] in self.classes), None)
        return None


def _self_attr_targets(target: cst.BaseExpression, value: cst.BaseExpression):
    """(attr, value) pairs for `self.a = v` and `self.a, self.b = v1, v2`."""
    if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self":
        yield target.attr.value, value
    elif isinstance(target, (cst.Tuple, cst.List)):
        values = value.elements if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements) else None
        for i, el in enumerate(target.elements):
            yield from _self_attr_targets(el.value, values[i].value if values else value)
