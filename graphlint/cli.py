"""The command line: `graphlint PATH...` (static pass) and `graphlint trace SCRIPT` (runtime pass)."""
from __future__ import annotations

import argparse
import sys

from graphlint import __version__
from graphlint.engine import AnalysisOptions
from graphlint.files import discover
from graphlint.report import json_report, text
from graphlint.rules import all_rules, select_rules
from graphlint.runner import check_files

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="graphlint",
        description="Find PyTorch training code that silently stops parameters from training.",
        epilog="Runtime pass: graphlint trace SCRIPT (see `graphlint trace --help`). Rule docs: graphlint rule CODE.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to check")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--select", default="", help="comma-separated rule codes or prefixes to enable (default: all)")
    p.add_argument("--ignore", default="", help="comma-separated rule codes or prefixes to disable")
    p.add_argument("-j", "--jobs", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--version", action="version", version=f"graphlint {__version__}")
    return p


def _codes(spec: str) -> list[str]:
    return [c.strip().upper() for c in spec.split(",") if c.strip()]


def check_command(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.paths:
        parser.print_usage(sys.stderr)
        print("graphlint: error: give at least one file or folder to check", file=sys.stderr)
        return EXIT_ERROR
    try:
        rules = select_rules(_codes(args.select), _codes(args.ignore))
    except ValueError as exc:
        print(f"graphlint: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    files, missing = discover(args.paths)
    result = check_files(files, AnalysisOptions(), jobs=args.jobs)
    enabled = {r.code for r in rules}
    findings = [f for f in result.findings if f.rule in enabled]
    from graphlint.findings import FileError
    errors = [FileError(m, "no such file or folder") for m in missing] + result.errors
    if args.format == "json":
        sys.stdout.write(json_report.render(findings, errors))
    else:
        sys.stdout.write(text.render(findings, errors, result.files_checked))
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if any(f.severity.is_loud for f in findings) else EXIT_CLEAN


def rule_command(argv: list[str]) -> int:
    by_code = {r.code: r for r in all_rules()}
    if not argv:
        print("usage: graphlint rule CODE", file=sys.stderr)
        return EXIT_ERROR
    rule = by_code.get(argv[0].upper())
    if rule is None:
        print(f"graphlint: error: unknown rule {argv[0]!r} (see `graphlint rules`)", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(rule.page())
    return EXIT_CLEAN


def rules_command(argv: list[str]) -> int:
    for r in all_rules():
        print(f"{r.code}  {r.name:<32} {r.category:<20} {r.severity.value:<8} {r.summary}")
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
