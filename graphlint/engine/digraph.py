"""The flow graph's storage: a directed graph with attributes on nodes and edges.

The engine uses nothing of networkx but this much of its ``DiGraph`` interface, and importing
networkx costs about as much as analysing a file, so the engine keeps its own (same spelling).
"""
from __future__ import annotations

from typing import Hashable, Iterator


class NodeView:
    """``graph.nodes[n]`` (the attribute dict), ``graph.nodes(data=True)``, ``for n in graph.nodes``."""

    def __init__(self, attrs: dict[Hashable, dict]) -> None:
        self._attrs = attrs

    def __getitem__(self, node: Hashable) -> dict:
        return self._attrs[node]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._attrs)

    def __call__(self, data: bool = False):
        return iter(self._attrs.items()) if data else iter(self._attrs)


class DiGraph:
    def __init__(self) -> None:
        self._nodes: dict[Hashable, dict] = {}
        self._succ: dict[Hashable, dict[Hashable, dict]] = {}
        self._pred: dict[Hashable, dict[Hashable, dict]] = {}
        self.nodes = NodeView(self._nodes)
        self.edges = _EdgeView(self._succ)  # graph.edges[src, dst]: the edge's attribute dict

    def __contains__(self, node: Hashable) -> bool:
        return node in self._nodes

    def add_node(self, node: Hashable, **attrs) -> None:
        if node not in self._nodes:
            self._nodes[node] = {}
            self._succ[node] = {}
            self._pred[node] = {}
        self._nodes[node].update(attrs)

    def add_edge(self, src: Hashable, dst: Hashable, **attrs) -> None:
        self.add_node(src)
        self.add_node(dst)
        data = self._succ[src].setdefault(dst, {})
        self._pred[dst][src] = data
        data.update(attrs)

    def get_edge_data(self, src: Hashable, dst: Hashable) -> dict | None:
        return self._succ.get(src, {}).get(dst)

    def successors(self, node: Hashable) -> Iterator[Hashable]:
        return iter(self._succ[node])

    def predecessors(self, node: Hashable) -> Iterator[Hashable]:
        return iter(self._pred[node])


class _EdgeView:
    def __init__(self, succ: dict[Hashable, dict[Hashable, dict]]) -> None:
        self._succ = succ

    def __getitem__(self, edge: tuple[Hashable, Hashable]) -> dict:
        src, dst = edge
        return self._succ[src][dst]
