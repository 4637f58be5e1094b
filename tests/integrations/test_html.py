"""The self-contained HTML report: escaped, no network, the graph opening on the disconnected part."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from graphlint.report.html import clean_svg, render

SVG = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg width="400pt" height="300pt" viewBox="0 0 400 300" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
<g id="graph0" class="graph" transform="translate(4 296)">
<g id="node1" class="node"><title>loss</title><ellipse cx="50" cy="-250" rx="30" ry="15"/></g>
<g id="node2" class="node disconnected"><title>Net.encoder.weight</title><ellipse cx="330" cy="-40" rx="30" ry="15"/></g>
<a xlink:href="https://example.com/x"><text x="10" y="-10" onclick="steal()">link</text></a>
<script>fetch('https://example.com')</script>
</g></svg>"""

REPORT = {
    "version": 1, "script": "train.py", "steps": {"backward": 3},
    "parameters": [{"name": "Net.encoder.weight", "shape": [4, 4], "requires_grad": True, "in_optimizer": True,
                    "reachable": False, "grad_norm": None, "moved": False, "cause": "detach", "explanation": "cut <here>"}],
    "findings": [{"rule": "GL101", "name": "detached-value-in-loss", "category": "detach", "severity": "error",
                  "path": "train.py", "line": 3, "column": 1, "message": "x <script>alert(1)</script>", "pass": "runtime"}],
}


def test_page_is_self_contained_and_escaped():
    page = render(REPORT, SVG)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "<script>alert(1)" not in page and "x &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "cut &lt;here&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']https?:""", page)
    assert "fetch(" not in page and 'onclick="steal' not in page and "<!DOCTYPE svg" not in page
    assert page.count("<script>") == 1  # only our pan/zoom script
    assert 'class="node disconnected"' in page


def test_static_report_without_graph():
    page = render({"findings": [], "errors": [{"path": "a.py", "message": "binary file"}]}, None)
    assert "No findings." in page and "a.py" in page and "id='graph'" not in page


def test_clean_svg_keeps_internal_links():
    assert 'href="#node1"' in clean_svg('<svg><a href="#node1"/></svg>')


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium not installed")
def test_opens_on_the_disconnected_part_in_a_real_browser(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(REPORT, SVG))
    dom = subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
                          "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=60).stdout
    assert 'data-view="disconnected"' in dom
    view = [float(v) for v in re.search(r'<svg[^>]*viewBox="([^"]+)"', dom).group(1).split()]
    x, y, w, h = view
    # the disconnected node (330, 256 in page units) is inside the view, the far corner (loss) is not centred
    assert x < 334 < x + w and y < 256 < y + h and w < 400
