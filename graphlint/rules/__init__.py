"""The rule registry: every rule class, in code order, and selection by code or prefix.

Importing this package is cheap: the rule modules (and with them the engine) load on the first
call of ``all_rules``; what rules are, without their checks, is in ``catalog``."""
from __future__ import annotations

from graphlint.rules.base import Report, Related, Rule

_RULES: list[type[Rule]] = []


def register(cls: type[Rule]) -> type[Rule]:
    _RULES.append(cls)
    return cls


def all_rules() -> list[type[Rule]]:
    from graphlint.rules import cuts, dispatch, frozen, optimizer, order, retention, structure, terms  # noqa: F401  (importing registers them)

    return sorted(_RULES, key=lambda r: r.code)


def select_rules(select: list[str], ignore: list[str]) -> list[type[Rule]]:
    """Rules whose code starts with a selected prefix (all if none) and with no ignored prefix."""
    rules = all_rules()
    known = [r.code for r in rules] + [r.name.upper() for r in rules]
    for sel in select + ignore:
        if sel != "ALL" and not any(code.startswith(sel) for code in known):
            raise ValueError(f"unknown rule selector {sel!r}")

    def matches(rule: type[Rule], sels: list[str]) -> bool:
        return any(s == "ALL" or rule.code.startswith(s) or rule.name.upper() == s for s in sels)

    return [r for r in rules if (not select or matches(r, select)) and not matches(r, ignore)]


__all__ = ["Report", "Related", "Rule", "register", "all_rules", "select_rules"]
