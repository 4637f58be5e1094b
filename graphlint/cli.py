"""The command line: `graphlint PATH...` (static pass) and `graphlint trace SCRIPT` (runtime pass).

A static run: configuration, file discovery and exclusion, analysis (through the cache), then the
filters in the order a user reasons about them — severity overrides, rule selection and
per-file ignores, `# noqa`, the baseline, the diff filter — then one reporter.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from graphlint import __version__, baseline, notebook
from graphlint import config as cfg
from graphlint.cache import DIRNAME as CACHE_DIRNAME, Cache
from graphlint.engine import AnalysisOptions, ProjectIndex
from graphlint.files import SourceError, SourceFile, decode_source, discover
from graphlint.findings import FileError, Finding
from graphlint.gitdiff import ChangedLines, DiffError
from graphlint.report import concise, github, json_report, sarif, text
from graphlint.report.summary import RunSummary
from graphlint.rules import catalog
from graphlint.suppress import Suppressions, parse as parse_suppressions

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "concise", "json", "github", "sarif")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="graphlint",
        description="Find PyTorch training code that silently stops parameters from training.",
        epilog="Runtime pass: graphlint trace SCRIPT (see `graphlint trace --help`). "
               "Rules: graphlint rules; one rule's page: graphlint rule CODE.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to check (.py, .pyi, .ipynb)")
    out = p.add_argument_group("output")
    out.add_argument("--format", "--output-format", choices=FORMATS, default="text",
                     help="text (default), concise (path:line:col: CODE message), json, github, sarif")
    out.add_argument("-o", "--output-file", metavar="FILE", help="write the report here instead of stdout")
    out.add_argument("--statistics", action="store_true", help="print how often each rule fired instead of the findings")
    sel = p.add_argument_group("rule selection")
    sel.add_argument("--select", help="comma-separated rule codes, prefixes or names to enable (replaces the config's)")
    sel.add_argument("--extend-select", default="", help="rules to enable in addition")
    sel.add_argument("--ignore", default="", help="rules to disable")
    conf = p.add_argument_group("configuration")
    conf.add_argument("--config", metavar="FILE", help="use this pyproject.toml or TOML file instead of searching")
    conf.add_argument("--isolated", action="store_true", help="ignore all configuration files")
    conf.add_argument("--exclude", help="comma-separated glob patterns to skip (replaces the config's)")
    conf.add_argument("--extend-exclude", default="", help="glob patterns to skip in addition")
    conf.add_argument("--force-exclude", action="store_true",
                      help="apply exclusions to files named on the command line too (as pre-commit does)")
    adopt = p.add_argument_group("adoption and review")
    adopt.add_argument("--baseline", metavar="FILE", help="report only findings not recorded in this baseline")
    adopt.add_argument("--write-baseline", metavar="FILE", help="record the current findings as the baseline and exit")
    adopt.add_argument("--diff-base", metavar="REV", help="report only findings on lines added or changed since REV (git)")
    run = p.add_argument_group("running")
    run.add_argument("--no-cache", action="store_true", help=f"neither read nor write {CACHE_DIRNAME}/")
    run.add_argument("-j", "--jobs", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--version", action="version", version=f"graphlint {__version__}")
    return p


class UsageError(Exception):
    """Bad options or configuration: one line, exit 2."""


def _list(spec: str | None) -> list[str]:
    return [c.strip() for c in (spec or "").split(",") if c.strip()]


def load_config(args: argparse.Namespace) -> cfg.Config:
    if args.isolated:
        return cfg.Config()
    path = Path(args.config) if args.config else cfg.find_config(args.paths)
    return cfg.load(path) if path else cfg.Config()


def select_files(args: argparse.Namespace, config: cfg.Config) -> tuple[list[SourceFile], list[str]]:
    """Discover the files; exclusions skip what a folder walk finds, and named files too with --force-exclude."""
    files, missing = discover(args.paths)
    patterns = tuple(_list(args.exclude)) if args.exclude is not None else config.exclude
    patterns += config.extend_exclude + tuple(_list(args.extend_exclude))
    if not patterns:
        return files, missing
    named = {Path(p).resolve() for p in args.paths if Path(p).is_file()}
    return [f for f in files
            if (f.path.resolve() in named and not args.force_exclude) or not cfg.is_excluded(config, f.path, patterns)
            ], missing


def analyse(files: list[SourceFile], options: AnalysisOptions, args: argparse.Namespace,
            cache_folder: Path) -> tuple[dict[str, list[Finding]], list[FileError], int]:
    """Engine findings per file (from the cache where the key matches), file errors, and the number of cache hits."""
    cache = None if args.no_cache else Cache(cache_folder, options)
    by_file: dict[str, list[Finding]] = {}
    todo = files
    project = ProjectIndex.from_files([f for f in files if f.path.suffix != notebook.SUFFIX])
    if cache:
        cache.plan(files, project)
        todo = []
        for f in files:
            hit = cache.get(f.display)
            if hit is None:
                todo.append(f)
            else:
                by_file[f.display] = hit
    hits = len(files) - len(todo)
    errors: list[FileError] = []
    if todo:
        from graphlint.runner import check_files  # loads the engine: a run served by the cache never does

        result = check_files(todo, options, jobs=args.jobs, project=project)
        for res in result.per_file:
            if res.error:
                errors.append(res.error)
                continue
            by_file[res.path] = res.findings
            if cache:
                cache.put(res.path, res.findings)
    return by_file, errors, hits


def _suppressions(source: SourceFile, own_codes_only: bool) -> Suppressions:
    try:
        if source.path.suffix == notebook.SUFFIX:
            nb = notebook.read(source.path)
            return parse_suppressions(nb.text, nb.origin, own_codes_only)
        return parse_suppressions(decode_source(source.path.read_bytes()), own_codes_only=own_codes_only)
    except (OSError, SourceError):
        return Suppressions()


def _disk_line(f: Finding) -> int:
    return notebook.disk_position(f.path, f.cell, f.line, f.column)[0] if f.cell is not None else f.line


def by_location_file(by_file: dict[str, list[Finding]]) -> dict[str, list[Finding]]:
    """Regroup by the file each finding points into (a cut in a shared module can be found from
    several scripts: report it once, and judge it by that module's own noqa comments)."""
    grouped: dict[str, list[Finding]] = {}
    seen: set[tuple] = set()
    for findings in by_file.values():
        for f in findings:
            key = (f.path, f.cell, f.line, f.column, f.rule)
            if key not in seen:
                seen.add(key)
                grouped.setdefault(f.path, []).append(f)
    return grouped


def filter_findings(files: list[SourceFile], by_file: dict[str, list[Finding]], config: cfg.Config,
                    enabled: set[str], summary: RunSummary) -> list[Finding]:
    """Severity overrides, selection, per-file ignores and noqa, per file; returns what is left."""
    sources = {f.display: f for f in files if f.display in by_file}  # analysed, so their noqa can be unused
    grouped = by_location_file(by_file)
    kept: list[Finding] = []
    for path in {**sources, **grouped}:
        group = grouped.get(path, [])
        source = sources.get(path) or SourceFile(path, Path(path))
        ignored = cfg.per_file_ignored(config, source.path)
        findings = []
        for f in group:
            level = cfg.severity_for(config, f.rule, f.name)
            if level is not None:
                f = dataclasses.replace(f, severity=level)
            if f.rule in enabled and not any(f.rule.startswith(code) for code in ignored):
                findings.append(f)
        # without findings, only directives naming our codes matter (as unused ones)
        left, unused = _suppressions(source, own_codes_only=not findings).filter(source.display, findings, enabled)
        summary.suppressed += len(findings) - len(left)
        summary.unused_suppressions += unused
        kept += left
    return sorted(kept, key=lambda f: f.sort_key)


def check_command(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.paths:
        parser.print_usage(sys.stderr)
        print("graphlint: error: give at least one file or folder to check", file=sys.stderr)
        return EXIT_ERROR
    notebook.source_lines.cache_clear()
    try:
        return _check(args)
    except (UsageError, cfg.ConfigError, baseline.BaselineError) as exc:
        print(f"graphlint: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _check(args: argparse.Namespace) -> int:
    cli_selection = cfg.Selection(
        select=cfg.check_selectors(_list(args.select), "--select") if args.select is not None else None,
        extend_select=cfg.check_selectors(_list(args.extend_select), "--extend-select"),
        ignore=cfg.check_selectors(_list(args.ignore), "--ignore"),
    )
    config = load_config(args)
    enabled = {r.code for r in cfg.enabled_rules([config.selection, cli_selection])}
    changed = None
    if args.diff_base:
        try:
            changed = ChangedLines(args.diff_base)
        except DiffError as exc:
            raise UsageError(f"--diff-base: {exc}") from None

    files, missing = select_files(args, config)
    options = AnalysisOptions(extra_sinks=config.extra_sinks, extra_steps=config.extra_steps,
                              knowledge=config.knowledge)
    cache_folder = (config.root if config.path else Path.cwd()) / CACHE_DIRNAME
    by_file, file_errors, hits = analyse(files, options, args, cache_folder)
    errors = [FileError(m, "no such file or folder") for m in missing] + file_errors

    summary = RunSummary(cached=hits, diff_base=args.diff_base)
    findings = filter_findings(files, by_file, config, enabled, summary)

    if args.write_baseline:
        count = baseline.write(Path(args.write_baseline), findings)
        print(f"graphlint: wrote {count} baseline entr{'y' if count == 1 else 'ies'} "
              f"({len(findings)} finding{'s' * (len(findings) != 1)}) to {args.write_baseline}", file=sys.stderr)
        return EXIT_ERROR if errors else EXIT_CLEAN
    if args.baseline:
        applied = baseline.apply(Path(args.baseline), findings, [f.display for f in files if f.display in by_file], enabled)
        findings, summary.baseline_hidden, summary.baseline_stale = applied.kept, applied.hidden, applied.stale
    if changed is not None:
        inside = [f for f in findings if changed.contains(f.path, _disk_line(f))]
        summary.outside_diff = len(findings) - len(inside)
        findings = inside
        summary.unused_suppressions = [u for u in summary.unused_suppressions
                                       if u.cell is not None or changed.contains(u.path, u.line)]

    write_report(args, findings, errors, len(files), summary)
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if any(f.severity.is_loud for f in findings) else EXIT_CLEAN


def write_report(args: argparse.Namespace, findings: list[Finding], errors: list[FileError],
                 files_checked: int, summary: RunSummary) -> None:
    stream = open(args.output_file, "w", encoding="utf-8") if args.output_file else sys.stdout
    try:
        stream.write(render(args, findings, errors, files_checked, summary, text.use_colour(stream)))
    finally:
        if args.output_file:
            stream.close()
    if args.format in ("concise", "github"):
        for e in errors:  # these formats' stdout is for machines; the person still hears about errors
            print(f"graphlint: error: {e.path}: {e.message}", file=sys.stderr)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if args.format == "github" and step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(github.markdown_summary(findings, errors, files_checked))


def render(args: argparse.Namespace, findings: list[Finding], errors: list[FileError], files_checked: int,
           summary: RunSummary, colour: bool) -> str:
    if args.statistics and args.format in ("text", "concise"):
        return text.render_statistics(findings) + text.summary_line(findings, errors, files_checked, summary) + "\n"
    if args.format == "json":
        extra = {"summary": {**summary.to_dict(), "files_checked": files_checked, "cache_hits": summary.cached}}
        return json_report.render(findings, errors, extra)
    if args.format == "sarif":
        return sarif.render(findings, errors, sarif.STATIC_AUTOMATION_ID)
    if args.format == "github":
        return github.render(findings, errors)
    if args.format == "concise":
        return concise.render(findings)
    return text.render(findings, errors, files_checked, summary=summary, colour=colour)


def rule_command(argv: list[str]) -> int:
    by_code = {r.code: r for r in catalog.RULES} | {r.name: r for r in catalog.RULES}
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: graphlint rule CODE   (print a rule's documentation page; see `graphlint rules`)", file=sys.stderr)
        return EXIT_ERROR
    rule = by_code.get(argv[0].upper()) or by_code.get(argv[0].lower())
    if rule is None:
        print(f"graphlint: error: unknown rule {argv[0]!r} (see `graphlint rules`)", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(rule.page())
    return EXIT_CLEAN


def rules_command(argv: list[str]) -> int:
    if argv:
        print("usage: graphlint rules   (list every rule)", file=sys.stderr)
        return EXIT_ERROR
    rules = catalog.RULES
    name_width = max(len(r.name) for r in rules)
    category_width = max(len(r.category) for r in rules)
    for r in rules:
        preview = " (preview: off unless selected by its code)" if r.preview else ""
        print(f"{r.code}  {r.name:<{name_width}}  {r.category:<{category_width}}  {r.severity.value:<7}  {r.summary}{preview}")
    return EXIT_CLEAN


def trace_command(argv: list[str]) -> int:
    from graphlint.trace.cli import main as trace_main

    return trace_main(argv)


SUBCOMMANDS = {"trace": trace_command, "rule": rule_command, "rules": rules_command}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    return check_command(argv)
