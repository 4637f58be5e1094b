"""Notebooks: magics masked, findings as path:cell N:line:col, `cell` in JSON, on-disk lines in SARIF."""
from __future__ import annotations

import json

import pytest

from graphlint.files import SourceError
from graphlint.notebook import disk_position, parse


def notebook(*cells: tuple[str, str], one_string: bool = False) -> str:
    def source(text):
        if one_string:
            return text
        lines = text.splitlines(keepends=True)
        return lines
    doc = {
        "cells": [{"cell_type": kind, "metadata": {}, "source": source(text),
                   **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                  for kind, text in cells],
        "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


CELLS = [
    ("markdown", "# Training\nSome *text*.\n"),
    ("code", "%matplotlib inline\n!pip install torch\nimport torch\nfiles = !ls\n"),
    ("code", "for x in data:\n    %time y = 1\n    feats = enc(x).detach()\n    model?\n"),
    ("code", "%%bash\necho hi .detach()\n"),
    ("code", "%%time\nopt.zero_grad()  # noqa: GL902\nz = é.detach()  # noqa: GL903\n"),
]


def test_magics_are_masked_and_lines_kept():
    nb = parse(notebook(*CELLS))
    text = nb.text.splitlines()
    assert text[:4] == ["pass", "pass", "import torch", "files = None"]
    assert text[5] == "    pass" and text[7] == "    pass"
    assert text[8:10] == ["pass", ""]  # a %%bash cell is not Python
    assert nb.origin[6].cell == 3 and nb.origin[6].line == 3
    compile(nb.text, "nb", "exec")


def test_findings_map_to_cells_in_every_format(run, tmp_path):
    (tmp_path / "nb.ipynb").write_text(notebook(*CELLS))
    code, out, _ = run("nb.ipynb", "--format", "concise")
    assert code == 1
    assert out.splitlines() == ["nb.ipynb:cell 3:3:19: GL901 `.detach()` found",
                                "nb.ipynb:cell 5:3:6: GL901 `.detach()` found"]
    text_out = run("nb.ipynb")[1]
    assert "  > 3 |     feats = enc(x).detach()" in text_out
    assert "nb.ipynb:cell 5:3:" in text_out and "unused suppression" in text_out  # GL903 suppressed nothing
    doc = json.loads(run("nb.ipynb", "--format", "json")[1])
    assert [(f["cell"], f["line"]) for f in doc["findings"]] == [(3, 3), (5, 3)]
    assert doc["summary"]["suppressed"] == 1


def test_sarif_and_github_use_lines_of_the_ipynb_file(run, tmp_path):
    raw = notebook(*CELLS)
    (tmp_path / "nb.ipynb").write_text(raw)
    disk = raw.splitlines()
    results = json.loads(run("nb.ipynb", "--format", "sarif")[1])["runs"][0]["results"]
    for result in results:
        region = result["locations"][0]["physicalLocation"]["region"]
        line = disk[region["startLine"] - 1]
        assert line[region["startColumn"] - 1:].startswith(".detach()")
    annotations = run("nb.ipynb", "--format", "github")[1].splitlines()
    assert annotations[0].startswith(f"::error file=nb.ipynb,line={results[0]['locations'][0]['physicalLocation']['region']['startLine']},")


@pytest.mark.parametrize("one_string", [False, True])
def test_disk_position_with_escapes_and_single_string_sources(tmp_path, one_string):
    raw = notebook(("code", 'print("a\\tb")\ns = "é"; t = x.detach()\n'), one_string=one_string)
    path = tmp_path / "n.ipynb"
    path.write_text(raw)
    line, col = disk_position(str(path), 1, 2, 14)
    assert raw.splitlines()[line - 1][col - 1:].startswith("x.detach()")


def test_broken_notebooks_are_one_line_errors(run, tmp_path):
    (tmp_path / "bad.ipynb").write_text("{not json")
    (tmp_path / "r.ipynb").write_text(json.dumps({"cells": [], "metadata": {"kernelspec": {"language": "R"}}}))
    (tmp_path / "ok.py").write_text("a = b.detach()\n")
    code, out, _ = run(".", "--format", "json")
    doc = json.loads(out)
    assert code == 2
    assert {e["path"]: e["message"] for e in doc["errors"]} == {
        "bad.ipynb": "not a valid notebook: invalid JSON at line 1",
        "r.ipynb": "notebook kernel language is 'R', not Python"}
    assert [f["path"] for f in doc["findings"]] == ["ok.py"]
    with pytest.raises(SourceError):
        parse("[]")
