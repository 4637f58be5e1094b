"""The control-flow graph the order rules walk: which call can run after which, avoiding which.

Each case is a function body; calls are named by their callee (`a()` is "a"). `reaches(src, start,
end, avoiding)` asks whether some path goes from the call `start` to the call `end` (or the
function's normal "exit") without running any call in ``avoiding``.
"""
from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from graphlint.engine import cfg
from graphlint.engine.tree import walk


def reaches(src: str, start: str, end: str, avoiding: tuple[str, ...] = ()) -> bool:
    module = cst.parse_module(textwrap.dedent(src))
    flow = cfg.build(module.body)

    def called(p: int) -> set[str]:
        data = flow.points[p].data
        if not isinstance(data, cst.CSTNode) or isinstance(data, (cst.With, cst.ExceptHandler)):
            return set()
        return {c.func.value for c in walk(data, cst.Call) if isinstance(c.func, cst.Name)}

    starts = [p for p in range(len(flow.points)) if start in called(p)]
    assert starts, f"no call {start}()"
    passed = flow.reach(starts, lambda p: bool(called(p) & set(avoiding)))[0]
    return flow.exit in passed if end == "exit" else any(end in called(p) for p in passed)


def test_continue_skips_the_rest_of_the_iteration():
    src = """
    for x in xs:
        a()
        if c:
            clear()
            continue
        step()
    """
    assert not reaches(src, "clear", "step", avoiding=("a",))
    assert reaches(src, "a", "step", avoiding=("clear",))


def test_return_inside_a_loop_leaves_the_function():
    src = """
    for x in xs:
        if c:
            clear()
            return
        step()
    """
    assert not reaches(src, "clear", "step")
    assert reaches(src, "clear", "exit")


def test_finally_runs_on_return_and_on_break():
    src = """
    for x in xs:
        try:
            if c:
                return early()
            if d:
                break
            work()
        finally:
            cleanup()
    after()
    """
    assert not reaches(src, "early", "exit", avoiding=("cleanup",))
    assert reaches(src, "early", "exit")
    assert not reaches(src, "work", "after", avoiding=("cleanup",))


def test_an_exception_in_a_try_body_goes_to_the_handler():
    src = """
    try:
        a()
        b()
    except RuntimeError:
        handle()
    after()
    """
    assert reaches(src, "a", "handle", avoiding=("b",))  # b raised
    assert not reaches(src, "b", "handle")  # nothing after b can raise inside the try
    assert reaches(src, "handle", "after")


def test_while_true_ends_only_through_break():
    src = """
    while True:
        step()
        if done:
            break
        clear()
    after()
    """
    assert not reaches(src, "clear", "after", avoiding=("step",))  # only by way of the next iteration
    assert reaches(src, "step", "after", avoiding=("clear",))


@pytest.mark.parametrize("loop", ["for p in params:", "while p is not None:"])
def test_a_loop_body_runs_at_least_once(loop):
    src = f"""
    before()
    {loop}
        clear()
    after()
    """
    assert not reaches(src, "before", "after", avoiding=("clear",))


def test_if_arms_are_separate_paths():
    src = """
    if c:
        a()
    else:
        b()
    after()
    """
    assert not reaches(src, "a", "b")
    assert reaches(src, "a", "after", avoiding=("b",))
