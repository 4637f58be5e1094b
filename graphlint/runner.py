"""Checking many files: in-process for a few, across the machine's cores for a tree.

Each file is analysed on its own; whatever goes wrong with one file becomes that file's
error and never touches another file's result.
"""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from graphlint import notebook
from graphlint.engine import AnalysisOptions, ProjectIndex, analyze_source
from graphlint.files import SourceError, SourceFile, read_source
from graphlint.findings import FileError, FileResult, Finding

# Deeply nested expressions recurse deeply in libcst's visitors: give analysis a big stack.
RECURSION_LIMIT = 100_000
THREAD_STACK_BYTES = 512 * 1024 * 1024
PARALLEL_THRESHOLD = 8  # below this many files, a process pool costs more than it saves


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    files_checked: int = 0
    per_file: list[FileResult] = field(default_factory=list)  # in the order of the files given


def analyze_file(source: SourceFile, options: AnalysisOptions, project: ProjectIndex) -> FileResult:
    """Analyse one file; every failure becomes a one-line error on its result."""
    try:
        if source.path.suffix == notebook.SUFFIX:
            findings = notebook.analyze(source.path, source.display, options, project)
        else:
            findings = analyze_source(read_source(source.path), source.display, options, project)
        return FileResult(source.display, findings)
    except SourceError as exc:
        return FileResult(source.display, error=FileError(source.display, str(exc)))
    except RecursionError:
        return FileResult(source.display, error=FileError(source.display, "too deeply nested to analyse"))
    except MemoryError:
        return FileResult(source.display, error=FileError(source.display, "ran out of memory analysing this file"))
    except Exception as exc:  # an analyser bug must not cost the user the other files
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return FileResult(source.display, error=FileError(
            source.display, f"internal error ({type(exc).__name__}{': ' + detail if detail else ''}); please report it"))


def _on_big_stack(fn, *args):
    result: list = []
    thread = threading.Thread(target=lambda: result.append(fn(*args)))
    thread.start()
    thread.join()
    return result[0]


def _analyze_on_big_stack(job: tuple[SourceFile, AnalysisOptions, ProjectIndex]) -> FileResult:
    return _on_big_stack(analyze_file, *job)


def _init_worker() -> None:
    sys.setrecursionlimit(RECURSION_LIMIT)
    threading.stack_size(THREAD_STACK_BYTES)


def check_files(files: list[SourceFile], options: AnalysisOptions, jobs: int | None = None,
                project: ProjectIndex | None = None) -> RunResult:
    """`project` indexes the whole run when only some of its files need analysing (the rest cached)."""
    project = project if project is not None else ProjectIndex.from_files(files)
    jobs = jobs or os.cpu_count() or 1
    jobs_list = [(f, options, project) for f in files]
    if len(files) < PARALLEL_THRESHOLD or jobs == 1:
        _init_worker()
        results = [_analyze_on_big_stack(job) for job in jobs_list]
    else:
        results = _run_in_pool(jobs_list, jobs)
    out = RunResult(files_checked=len(files), per_file=results)
    seen: set[tuple] = set()
    for res in results:
        for finding in res.findings:  # a cut in a shared module may be found from several scripts
            key = (finding.path, finding.line, finding.rule)
            if key not in seen:
                seen.add(key)
                out.findings.append(finding)
        if res.error:
            out.errors.append(res.error)
    out.findings.sort(key=lambda f: f.sort_key)
    return out


def _run_in_pool(jobs_list, jobs: int) -> list[FileResult]:
    """Analyse in worker processes; if one dies (a native crash), isolate the files it held."""
    results: dict[int, FileResult] = {}
    chunk = max(1, min(16, len(jobs_list) // (jobs * 4)))
    try:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker) as pool:
            for i, res in enumerate(pool.map(_analyze_on_big_stack, jobs_list, chunksize=chunk)):
                results[i] = res
    except BrokenProcessPool:
        for i, job in enumerate(jobs_list):
            if i not in results:
                results[i] = _isolated(job)
    return [results[i] for i in range(len(jobs_list))]


def _isolated(job) -> FileResult:
    source = job[0]
    try:
        with ProcessPoolExecutor(max_workers=1, initializer=_init_worker) as pool:
            return pool.submit(_analyze_on_big_stack, job).result()
    except BrokenProcessPool:
        return FileResult(source.display, error=FileError(source.display, "the parser crashed on this file"))
