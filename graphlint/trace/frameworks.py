"""What training frameworks (Lightning, transformers, accelerate, torch.compile) change for the tracer.

Two things, both told apart by mechanism rather than by framework:

* Whose code is running. Findings point at the user's lines and parameters are named after the
  user's modules, so frames and classes that live in an installed library (site-packages, the
  standard library) are looked through: `is_library_file`, `is_library_class`.
* Where the user's step runs. Lightning's automatic optimization (and any LBFGS-style loop) runs
  training_step, zero_grad and backward inside `optimizer.step(closure)`. The closure is the
  user's code even though it runs inside step(): `closure_as_user_code` makes the tracer see it
  as such, so a `torch.no_grad()` in training_step is a cut, not optimizer internals.
"""
from __future__ import annotations

import os
import site
import sys
import sysconfig


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    try:
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    except AttributeError:  # an old virtualenv's site module lacks them
        pass
    dirs.update(p for p in sys.path if os.path.basename(p.rstrip(os.sep)) in ("site-packages", "dist-packages"))
    dirs.discard(None)
    dirs.discard("")
    both = dirs | {os.path.realpath(d) for d in dirs}
    return tuple(sorted(d.rstrip(os.sep) + os.sep for d in both))


LIBRARY_PREFIXES = _library_dirs()


def is_library_file(path: str | None) -> bool:
    """True for installed libraries and the standard library; False for the user's own files."""
    return bool(path) and (path.startswith(LIBRARY_PREFIXES) or path.startswith("<frozen"))


def is_library_class(cls) -> bool:
    """A class defined in an installed library; a class with no file (a notebook, stdin) is the user's.

    The file comes from the class's own methods first: a script's classes live in `__main__`,
    which names graphlint's child process once the script has ended.
    """
    for value in vars(cls).values():
        code = getattr(value, "__code__", None)
        if code is not None:
            return is_library_file(code.co_filename)
    return is_library_file(getattr(sys.modules.get(cls.__module__), "__file__", None))


def user_source(module) -> tuple[str, int] | None:
    """(file, line) of the first of forward / __init__ that the module's class defines in the user's code."""
    for attr in ("forward", "__init__"):
        code = getattr(getattr(type(module), attr, None), "__code__", None)
        if code is not None and not is_library_file(code.co_filename):
            return code.co_filename, code.co_firstlineno
    return None


def closure_as_user_code(tracer, opt, args, kwargs):
    """For an optimizer-step pre-hook: (args, kwargs) whose closure runs outside the tracer's `in_step`.

    Returns None when step() got no closure. The hook's args start with the optimizer itself.
    """
    rest = list(args[1:] if args and args[0] is opt else args)
    if kwargs.get("closure") is not None:
        kwargs = dict(kwargs, closure=_outside_step(tracer, kwargs["closure"]))
    elif rest and callable(rest[0]):
        rest[0] = _outside_step(tracer, rest[0])
        args = (opt, *rest) if args and args[0] is opt else tuple(rest)
    else:
        return None
    return args, kwargs


def _outside_step(tracer, closure):
    def run_user_closure(*a, **k):
        tracer.in_step -= 1
        try:
            return closure(*a, **k)
        finally:
            tracer.in_step += 1

    return run_user_closure


def outside_compiled_code(hook):
    """`hook` as torch.compile must run it: eagerly, between compiled graphs, never traced into one.

    Dynamo traces a compiled module's forward together with the global module hooks it calls;
    the tracer's hooks keep Python state, which cannot live inside a graph.
    """
    import torch

    disable = getattr(getattr(torch, "compiler", None), "disable", None)
    return disable(hook, reason="graphlint's tracer hooks keep Python state") if disable else hook
