"""The static engine: parse with libcst, resolve names, follow values into the loss.

The one door out of this package is ``analyze_source``: source text in, findings out.
"""
from __future__ import annotations

from graphlint.engine.options import AnalysisOptions
from graphlint.engine.project import ProjectIndex

__all__ = ["AnalysisOptions", "ProjectIndex", "analyze_source"]


def __getattr__(name: str):
    """``analyze_source`` loads the analyser (libcst and all) on first use: a run whose every
    file comes from the cache needs only the options and the project index."""
    if name == "analyze_source":
        from graphlint.engine.analyze import analyze_source

        return analyze_source
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
