"""Where in the user's code a torch call came from: the innermost frame outside torch, graphlint, runpy and,
when the user's code is on the stack, installed libraries (Lightning, transformers: frameworks.py)."""
from __future__ import annotations

import linecache
import os
import sys

import torch

import graphlint
from graphlint.trace.frameworks import is_library_file

TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
GRAPHLINT_DIR = os.path.dirname(graphlint.__file__) + os.sep
SKIP_PREFIXES = (TORCH_DIR, GRAPHLINT_DIR, "<frozen", os.path.dirname(os.__file__) + os.sep + "runpy.py")


def user_frame(depth: int = 2):
    """(path, line) of the innermost frame in the user's code, else the innermost outside torch,
    graphlint and runpy (a framework's own line, when the user's code is not on the stack)."""
    f = sys._getframe(depth)
    fallback = None
    while f is not None:
        name = f.f_code.co_filename
        if not name.startswith(SKIP_PREFIXES):
            if not is_library_file(name):
                return name, f.f_lineno
            fallback = fallback or (name, f.f_lineno)
        f = f.f_back
    return fallback or (None, 0)


def source_line(path: str | None, line: int) -> str:
    return linecache.getline(path, line) if path else ""


def user_code(cls, attr: str):
    """[file, first line] of `cls.<attr>` when the user wrote it (not torch), else None."""
    code = getattr(getattr(cls, attr, None), "__code__", None)
    if code is None or code.co_filename.startswith(TORCH_DIR):
        return None
    return [code.co_filename, code.co_firstlineno]
