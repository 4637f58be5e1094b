"""Control flow of one function body: which statement can run right after which.

It answers "can this run after that without passing through those?" for the order rules
(zero_grad, backward, step, gradient edits): a `zero_grad()` in a NaN-skip branch that ends
in `continue` never reaches the `step()` below it, and a `finally` runs on every way out.

Points are the simple statements and the expressions compound statements evaluate (an
`if` test, a `for` iterable, `with` items); each `if` arm and each loop entry is a point of
its own, so callers can attach what a branch implies. Edges follow branches, loops,
`break` / `continue` / `return` / `raise`, `try` / `except` / `else` / `finally` (the
`finally` body is copied once per way out, so each copy continues where its exit goes)
and `with`. Inside a `try` with handlers, any statement may raise: the handlers can run
after any point of the body that more of the body follows.

A loop body runs at least once: a path that skips a loop entirely only shows an iteration
doing nothing, and treating it as possible would make every `for p in params: p.grad = None`
look optional.

`refine` replaces each point by a chain of payloads, splicing in other flows (a called
function's body) between them; path queries are plain reachability that avoids some points.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import libcst as cst

LOOPS = (cst.For, cst.While)


@dataclass(eq=False)
class Point:
    data: Any = None  # what runs here: a statement or expression node, or after `refine`, a payload
    ifs: tuple[tuple[cst.If, bool], ...] = ()  # the `if` arms it runs in, outermost first (True: the body)
    loops: tuple[int, ...] = ()  # the heads of the enclosing loops, outermost first
    arm: tuple[cst.CSTNode, bool] | None = None  # the `if`/loop whose branch (True: enter the body) starts here
    may_raise: int | None = None  # the point an exception raised here goes to, inside a `try` with handlers


class ControlFlow:
    def __init__(self) -> None:
        self.points: list[Point] = []
        self.succ: list[set[int]] = []
        self.entry = self.add(Point())
        self.exit = self.add(Point())  # normal return
        self.raised = self.add(Point())  # an exception leaves the function
        self.loops: dict[int, cst.CSTNode] = {}  # the point where a loop's next iteration starts -> the loop
        self.raising: set[tuple[int, int]] = set()  # edges taken when a statement in a `try` body raises
        self._pred: list[set[int]] | None = None

    def add(self, point: Point) -> int:
        self.points.append(point)
        self.succ.append(set())
        self._pred = None
        return len(self.points) - 1

    def edge(self, a: int, b: int) -> None:
        self.succ[a].add(b)
        self._pred = None

    @property
    def pred(self) -> list[set[int]]:
        if self._pred is None:
            self._pred = [set() for _ in self.points]
            for a, targets in enumerate(self.succ):
                for b in targets:
                    self._pred[b].add(a)
        return self._pred

    # -- queries ------------------------------------------------------------------------------
    def reach(self, start: Iterable[int], blocked: Callable[[int], bool], backward: bool = False,
              within: Callable[[int], bool] = lambda p: True, raising: bool = True) -> tuple[set[int], set[int]]:
        """Points reachable from the successors (or predecessors) of ``start``: (passed, stopped at).

        A blocked point is recorded in the second set and not gone through; ``within`` limits
        the walk to a region (one loop's points); ``raising=False`` leaves out the ways into an
        `except` handler from the middle of its `try` body (a handler then runs as if the
        `try` failed at once)."""
        edges = self.pred if backward else self.succ

        def onward(p: int) -> list[int]:
            if raising:
                return list(edges[p])
            return [q for q in edges[p] if ((q, p) if backward else (p, q)) not in self.raising]

        passed: set[int] = set()
        stopped: set[int] = set()
        stack = [n for s in start for n in onward(s)]
        while stack:
            p = stack.pop()
            if p in passed or p in stopped or not within(p):
                continue
            if blocked(p):
                stopped.add(p)
                continue
            passed.add(p)
            stack.extend(onward(p))
        return passed, stopped

    # -- rewriting ----------------------------------------------------------------------------
    def refine(self, expand: Callable[[Point], list]) -> "ControlFlow":
        """A copy where each point runs the pieces ``expand`` gives it, in order: a payload becomes a point
        of its own; a ControlFlow (a called function's body) is spliced in, its exit continuing the chain and
        its `raise` going where an exception at this point goes. Exceptions a spliced body does not raise
        explicitly are not followed."""
        out = ControlFlow()
        ends = (self.entry, self.exit, self.raised)
        chains: dict[int, list[int]] = {old: [new] for old, new in zip(ends, (out.entry, out.exit, out.raised))}
        raises: list[tuple[int, int]] = []  # (raise exit of a spliced body, the old point it was spliced at)
        for old, point in enumerate(self.points):
            if old in chains:
                continue
            loops = tuple(chains[head][0] for head in point.loops)  # heads come before their bodies
            chain = chains[old] = [out.add(Point(None, point.ifs, loops, point.arm))]
            if old in self.loops:
                out.loops[chain[0]] = self.loops[old]
            for piece in expand(point):
                if isinstance(piece, ControlFlow):
                    entry, exit_, raised = out._splice(piece, out.points[chain[0]])
                    out.edge(chain[-1], entry)
                    chain.append(exit_)
                    raises.append((raised, old))
                else:
                    chain.append(out.add(Point(piece, point.ifs, loops)))
                    out.edge(chain[-2], chain[-1])
        for old, chain in chains.items():
            for target in self.succ[old]:
                out.edge(chain[-1], chains[target][0])
                if (old, target) in self.raising:
                    out.raising.add((chain[-1], chains[target][0]))
            handler = self.points[old].may_raise
            if handler is not None:  # inside the statement, after each piece, the rest of it may raise
                for new in chain:
                    out.points[new].may_raise = chains[handler][0]
                for new in chain[:-1]:
                    out.edge(new, chains[handler][0])
                    out.raising.add((new, chains[handler][0]))
        for raised, old in raises:
            handler = self.points[old].may_raise
            out.edge(raised, out.raised if handler is None else chains[handler][0])
        return out

    def _splice(self, other: "ControlFlow", at: Point) -> tuple[int, int, int]:
        """Copy ``other`` in, under ``at``'s `if`s and loops; returns the copy's entry, exit and raise points."""
        offset = len(self.points)
        for p in other.points:
            self.add(Point(p.data, at.ifs + p.ifs, at.loops + tuple(h + offset for h in p.loops), p.arm,
                           None if p.may_raise is None else p.may_raise + offset))
        for a, targets in enumerate(other.succ):
            for b in targets:
                self.edge(a + offset, b + offset)
        self.raising |= {(a + offset, b + offset) for a, b in other.raising}
        self.loops.update({head + offset: loop for head, loop in other.loops.items()})
        return other.entry + offset, other.exit + offset, other.raised + offset


@dataclass
class _Exits:
    """Where a jump goes from the current position: lazily built, so `finally` copies exist only when used."""

    on_return: Callable[[], int]
    on_raise: Callable[[], int]
    on_break: Callable[[], int] | None = None
    on_continue: Callable[[], int] | None = None
    outer: "_Exits | None" = None  # for a `finally` body's own jumps: the exits around its `try`


@dataclass
class _Builder:
    flow: ControlFlow
    ifs: tuple = ()
    loops: tuple = ()
    handler: int | None = None  # the handler dispatch point of the innermost `try` with handlers

    def add(self, data=None, arm=None) -> int:
        return self.flow.add(Point(data, self.ifs, self.loops, arm, self.handler))

    def link(self, ends: Iterable[int], target: int) -> None:
        for e in ends:
            self.flow.edge(e, target)

    def suite(self, statements: Iterable[cst.CSTNode], ends: list[int], exits: _Exits) -> list[int]:
        for stmt in statements:
            ends = self.statement(stmt, ends, exits)
        return ends

    def body(self, suite: cst.BaseSuite, ends: list[int], exits: _Exits) -> list[int]:
        return self.suite(suite.body if isinstance(suite, cst.IndentedBlock) else [suite], ends, exits)

    def statement(self, stmt: cst.CSTNode, ends: list[int], exits: _Exits) -> list[int]:
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):  # the latter: `if x: a(); b()`
            for small in stmt.body:
                ends = self.small(small, ends, exits)
            return ends
        if isinstance(stmt, cst.If):
            return self.branch(stmt, ends, exits)
        if isinstance(stmt, LOOPS):
            return self.loop(stmt, ends, exits)
        if isinstance(stmt, cst.With):
            p = self.add(stmt)
            self.link(ends, p)
            return self.body(stmt.body, [p], exits)
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            return self.try_(stmt, ends, exits)
        if isinstance(stmt, cst.Match):
            p = self.add(stmt.subject)
            self.link(ends, p)
            return [p] + [e for case in stmt.cases for e in self.body(case.body, [p], exits)]
        return ends  # nested def / class: defining runs nothing we follow

    def small(self, small: cst.BaseSmallStatement, ends: list[int], exits: _Exits) -> list[int]:
        p = self.add(small)
        self.link(ends, p)
        jump = {cst.Return: exits.on_return, cst.Raise: exits.on_raise,
                cst.Break: exits.on_break, cst.Continue: exits.on_continue}.get(type(small), False)
        if jump is False:
            return [p]
        if jump is not None:
            self.flow.edge(p, jump())
        return []

    def branch(self, stmt: cst.If, ends: list[int], exits: _Exits) -> list[int]:
        test = self.add(stmt.test)
        self.link(ends, test)
        outer = self.ifs
        try:
            self.ifs = outer + ((stmt, True),)
            then = self.add(arm=(stmt, True))
            out = self.body(stmt.body, [then], exits)
            self.ifs = outer + ((stmt, False),)
            otherwise = self.add(arm=(stmt, False))
            if isinstance(stmt.orelse, cst.If):
                out += self.statement(stmt.orelse, [otherwise], exits)
            elif isinstance(stmt.orelse, cst.Else):
                out += self.body(stmt.orelse.body, [otherwise], exits)
            else:
                out.append(otherwise)
            self.flow.edge(test, then)
            self.flow.edge(test, otherwise)
            return out
        finally:
            self.ifs = outer

    def loop(self, stmt: cst.For | cst.While, ends: list[int], exits: _Exits) -> list[int]:
        expr = stmt.iter if isinstance(stmt, cst.For) else stmt.test
        enter = self.add(expr)
        self.link(ends, enter)
        again = self.add(stmt.test if isinstance(stmt, cst.While) else None)  # the next iteration's check
        self.flow.loops[again] = stmt
        after: list[int] = []
        outer = self.loops
        self.loops = outer + (again,)
        try:
            start = self.add(arm=(stmt, True))
            self.flow.edge(enter, start)
            self.flow.edge(again, start)
            inner = _Exits(exits.on_return, exits.on_raise, lambda: self._after(after), lambda: again)
            self.link(self.body(stmt.body, [start], inner), again)
        finally:
            self.loops = outer
        done: list[int] = []
        if not (isinstance(stmt, cst.While) and _always_true(stmt.test)):
            leave = self.add(arm=(stmt, False))
            self.flow.edge(again, leave)
            done = self.body(stmt.orelse.body, [leave], exits) if stmt.orelse is not None else [leave]
        return done + after

    def _after(self, after: list[int]) -> int:
        """A point for `break` to jump to; it joins the loop's other ways out."""
        if not after:
            after.append(self.flow.add(Point(None, self.ifs, self.loops[:-1])))
        return after[0]

    def try_(self, stmt: cst.Try | cst.TryStar, ends: list[int], exits: _Exits) -> list[int]:
        outer_handler = self.handler
        final = stmt.finalbody
        if final is not None:
            exits = self._through_finally(final, exits)
        dispatch = None
        if stmt.handlers:  # where an exception in the body goes; one no handler matches leaves through `exits`
            dispatch = self.flow.add(Point(None, self.ifs, self.loops))
            self.handler = dispatch
        start = self.add()
        self.link(ends, start)
        body_exits = _Exits(exits.on_return, (lambda: dispatch) if dispatch is not None else exits.on_raise,
                            exits.on_break, exits.on_continue)
        out = self.body(stmt.body, [start], body_exits)
        self.handler = outer_handler
        if dispatch is not None:
            self._may_raise(start, dispatch)
        if dispatch is not None:
            self.flow.edge(dispatch, exits.on_raise())  # an exception no handler matches
        if stmt.orelse is not None:
            out = self.body(stmt.orelse.body, out, exits)
        for handler in stmt.handlers:
            h = self.add(handler)
            self.flow.edge(dispatch, h)
            out += self.body(handler.body, [h], exits)
        if final is not None and out:
            out = self.body(final.body, out, exits.outer)
        return out

    def _may_raise(self, start: int, dispatch: int) -> None:
        """An exception in the `try` body goes to its handlers: from every point after which more of the body
        runs (the next statement raised). The body's last statements have no such edge: nothing after them can
        raise inside the `try`."""
        points, succ = self.flow.points, self.flow.succ
        self.flow.edge(start, dispatch)  # before anything ran
        for p in range(start + 1, len(points)):
            if points[p].may_raise == dispatch and any(points[q].may_raise == dispatch for q in succ[p]):
                self.flow.edge(p, dispatch)
                self.flow.raising.add((p, dispatch))

    def _through_finally(self, final: cst.Finally, exits: _Exits) -> _Exits:
        """Jumps out of a `try` first run a copy of its `finally` body, then go where they were going.
        A copy is built at the first jump that needs it, in the `try` statement's own surroundings."""
        around = (self.ifs, self.loops, self.handler)

        def via(target: Callable[[], int] | None):
            if target is None:
                return None
            copy: list[int] = []

            def build() -> int:
                if not copy:
                    inside, (self.ifs, self.loops, self.handler) = (self.ifs, self.loops, self.handler), around
                    copy.append(self.add())
                    self.link(self.body(final.body, [copy[0]], exits), target())
                    self.ifs, self.loops, self.handler = inside
                return copy[0]
            return build
        return _Exits(via(exits.on_return), via(exits.on_raise), via(exits.on_break), via(exits.on_continue), exits)


def _always_true(test: cst.BaseExpression) -> bool:
    return isinstance(test, cst.Name) and test.value == "True" or \
        isinstance(test, cst.Integer) and test.evaluated_value != 0


def build(statements: Iterable[cst.CSTNode]) -> ControlFlow:
    """The control flow of a function body (or a module's top level)."""
    flow = ControlFlow()
    builder = _Builder(flow)
    exits = _Exits(lambda: flow.exit, lambda: flow.raised)
    builder.link(builder.suite(statements, [flow.entry], exits), flow.exit)
    return flow
