"""The static engine: parse with libcst, resolve names, follow values into the loss.

The one door out of this package is ``analyze_source``: source text in, findings out.
"""
from __future__ import annotations

from graphlint.engine.options import AnalysisOptions
from graphlint.engine.project import ProjectIndex
from graphlint.engine.analyze import analyze_source

__all__ = ["AnalysisOptions", "ProjectIndex", "analyze_source"]
