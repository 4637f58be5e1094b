"""Checking many files: in-process for a few, across the machine's cores for a tree.

Each file is analysed on its own; whatever goes wrong with one file becomes that file's
error and never touches another file's result.
"""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
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
BATCHES_PER_WORKER = 4  # enough to even out the workers' loads, few enough that neighbours share a worker


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


def check_files(files: list[SourceFile], options: AnalysisOptions, jobs: int | None = None,
                project: ProjectIndex | None = None) -> RunResult:
    """`project` indexes the whole run when only some of its files need analysing (the rest cached)."""
    project = project if project is not None else ProjectIndex.from_files(files)
    jobs = jobs or os.cpu_count() or 1
    if len(files) < PARALLEL_THRESHOLD or jobs == 1:
        _init_worker(options, project)
        results = _analyze_batch(files)
    else:
        results = _run_in_pool(files, options, project, jobs)
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


# What every file of a worker's batches is analysed with: set once per process, so the project
# index travels to a worker once (not with every file) and the modules it parses serve every
# file the worker analyses.
_RUN: tuple[AnalysisOptions, ProjectIndex] | None = None


def _init_worker(options: AnalysisOptions, project: ProjectIndex) -> None:
    global _RUN
    _RUN = (options, project)
    sys.setrecursionlimit(RECURSION_LIMIT)
    threading.stack_size(THREAD_STACK_BYTES)


def _analyze_batch(batch: list[SourceFile]) -> list[FileResult]:
    """Analyse files one after another on a thread with a big stack (deeply nested expressions recurse deeply)."""
    options, project = _RUN
    results: list[FileResult] = []
    thread = threading.Thread(target=lambda: results.extend(analyze_file(f, options, project) for f in batch))
    thread.start()
    thread.join()
    return results


def batches(files: list[SourceFile], count: int) -> list[list[int]]:
    """Split the files (as indexes) into about ``count`` batches of similar size, biggest first.

    Files are ordered by folder so that a batch holds neighbours: a script and the modules
    beside it or in its package mostly land in one worker, which parses each of them once.
    """
    sizes = [_size(f) for f in files]
    order = sorted(range(len(files)), key=lambda i: os.path.split(os.path.realpath(files[i].path)))
    target = max(sum(sizes) / max(count, 1), 1)
    out: list[list[int]] = [[]]
    filled = 0.0
    for i in order:
        if filled >= target:
            out.append([])
            filled = 0.0
        out[-1].append(i)
        filled += sizes[i]
    return sorted(out, key=lambda b: -sum(sizes[i] for i in b))


def _size(source: SourceFile) -> int:
    try:
        return source.path.stat().st_size
    except OSError:
        return 0


def _run_in_pool(files: list[SourceFile], options: AnalysisOptions, project: ProjectIndex, jobs: int) -> list[FileResult]:
    """Analyse in worker processes; if one dies (a native crash), isolate the files it held."""
    results: dict[int, FileResult] = {}
    try:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(options, project)) as pool:
            futures = {pool.submit(_analyze_batch, [files[i] for i in batch]): batch
                       for batch in batches(files, jobs * BATCHES_PER_WORKER)}
            for future in as_completed(futures):
                results.update(zip(futures[future], future.result()))
    except BrokenProcessPool:
        for i, source in enumerate(files):
            if i not in results:
                results[i] = _isolated(source, options, project)
    return [results[i] for i in range(len(files))]


def _isolated(source: SourceFile, options: AnalysisOptions, project: ProjectIndex) -> FileResult:
    try:
        with ProcessPoolExecutor(max_workers=1, initializer=_init_worker, initargs=(options, project)) as pool:
            return pool.submit(_analyze_batch, [source]).result()[0]
    except BrokenProcessPool:
        return FileResult(source.display, error=FileError(source.display, "the parser crashed on this file"))
