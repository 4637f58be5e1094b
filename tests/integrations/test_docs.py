"""docs/rules/ is generated from rules/ and must be current; `graphlint rule`/`rules` print what the docs say."""
from __future__ import annotations

import subprocess
import sys

from graphlint.cli import main
from graphlint.rules import all_rules
from tests.integrations.conftest import REPO


def test_rule_docs_are_current():
    done = subprocess.run([sys.executable, str(REPO / "docs" / "generate_rule_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_and_rules_commands(capsys):
    rules = all_rules()
    assert main(["rules"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [r.code for r in rules]
    if rules:
        assert main(["rule", rules[0].code.lower()]) == 0
        assert capsys.readouterr().out == rules[0].page()
    assert main(["rule", "GL000"]) == 2
    assert "unknown rule 'GL000'" in capsys.readouterr().err
