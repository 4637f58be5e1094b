"""Source text in, findings out: parse, build the module analysis, run the rules."""
from __future__ import annotations

from functools import cached_property

import libcst as cst

from graphlint.engine.constants import Constants
from graphlint.engine.flow import FlowGraph
from graphlint.engine.identity import Identity
from graphlint.engine.hooks import Hooks
from graphlint.files import SourceError
from graphlint.engine.losses import LossFlow
from graphlint.engine.steps import TrainingSteps
from graphlint.engine.values import ValueModel
from graphlint.engine.module import ModuleAnalysis
from graphlint.engine.options import AnalysisOptions
from graphlint.engine.project import ProjectIndex
from graphlint.findings import Finding, Location
from graphlint.knowledge import Knowledge, with_extra


class Analysis:
    """Everything rules may ask about one file; each part is computed on first use."""

    def __init__(self, module: ModuleAnalysis, options: AnalysisOptions, project: ProjectIndex) -> None:
        self.module = module
        self.options = options
        self.project = project

    def load_module(self, name: str, importer: ModuleAnalysis) -> ModuleAnalysis | None:
        """The file of the run that ``import name`` in ``importer`` loads (parsed once per run); None for libraries."""
        return self.project.load(name, importer.path)

    @cached_property
    def flow(self) -> FlowGraph:
        return FlowGraph(self.module, self.load_module, self.options.extra_sinks, self.knowledge).build()

    @cached_property
    def knowledge(self) -> Knowledge:
        return with_extra(self.options.knowledge)

    @cached_property
    def losses(self) -> LossFlow:
        return LossFlow(self.flow, self.values)

    @cached_property
    def constants(self) -> Constants:
        return Constants(self.flow)

    @cached_property
    def values(self) -> ValueModel:
        return ValueModel(self.flow)

    @cached_property
    def steps(self) -> TrainingSteps:
        return TrainingSteps(self.flow, self.constants)

    @cached_property
    def identity(self) -> Identity:
        return Identity(self.flow, self.losses)

    @cached_property
    def hooks(self) -> Hooks:
        return Hooks(self.flow, self.constants)


def analyze_source(text: str, path: str, options: AnalysisOptions, project: ProjectIndex) -> list[Finding]:
    from graphlint.rules import all_rules

    try:
        module = project.module(path, text)
    except cst.ParserSyntaxError as exc:
        # CPython's compiler (it compiles, never runs) names the error the way users know it;
        # if Python accepts the file, only libcst's grammar refused it.
        raise SourceError(_compiler_error(text, path) or
                          f"Python accepts this file but libcst cannot parse it (line {exc.raw_line}): {exc.message}") from None
    except (NotImplementedError, ValueError) as exc:
        # libcst parsed it but its scope analysis refused it (e.g. `nonlocal` at module level):
        # ask CPython's compiler (it compiles, never runs) for the proper syntax error.
        raise SourceError(_compiler_error(text, path) or f"cannot analyse scopes: {exc}") from None
    analysis = Analysis(module, options, project)
    findings: list[Finding] = []
    seen: set[tuple] = set()
    for rule_cls in all_rules():
        for report in rule_cls().check(analysis):
            rmod = report.module or module
            pos = rmod.position(report.node)
            key = (rule_cls.code, rmod.path, pos.start.line)
            if key in seen:
                continue
            seen.add(key)
            findings.append(Finding(
                rule=rule_cls.code, name=rule_cls.name, category=rule_cls.category, severity=rule_cls.severity,
                path=rmod.path, line=pos.start.line, column=pos.start.column + 1,
                end_line=pos.end.line, end_column=pos.end.column + 1, message=report.message,
                related=tuple(_location(r.module or module, r.node, r.message) for r in report.related),
            ))
    return findings


def _location(module: ModuleAnalysis, node: cst.CSTNode, message: str) -> Location:
    pos = module.position(node)
    return Location(module.path, pos.start.line, pos.start.column + 1, message)


def _compiler_error(text: str, path: str) -> str | None:
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"syntax error at line {exc.lineno}, column {exc.offset or 1}: {exc.msg}"
    return None
