"""One self-contained HTML page for a run: the findings, the parameters (runtime pass) and the graph picture.

Everything is inline (styles, a small pan/zoom script, the SVG) and a Content-Security-Policy
forbids any fetch, so the file can be mailed, attached to a CI run or opened offline.
The graph opens zoomed on the disconnected part: the SVG elements whose class includes
`disconnected` (Graphviz copies a node's, edge's or cluster's `class` attribute into the SVG),
or failing that whose `<title>` mentions it; with none, the whole graph is shown.
"""
from __future__ import annotations

import re
from html import escape

from graphlint import __version__

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_UNSAFE_SVG = [
    re.compile(r"<\?xml.*?\?>", re.S),
    re.compile(r"<!DOCTYPE.*?>", re.S | re.I),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"<script\b.*?</script\s*>", re.S | re.I),
    re.compile(r"<foreignObject\b.*?</foreignObject\s*>", re.S | re.I),
    re.compile(r"\son\w+\s*=\s*(\"[^\"]*\"|'[^']*')", re.I),
]
_EXTERNAL_HREF = re.compile(r"""(\s(?:xlink:)?href\s*=\s*)(["'])(?!#)[^"']*\2""", re.I)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 24px}
header h1{font-size:18px;margin:0}
header p{margin:4px 0 0;color:#c5cad6}
main{padding:16px 24px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:0 0 16px;padding:12px 16px}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eceff3;vertical-align:top}
th{background:#f1f3f6;font-weight:600}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.sev{font-weight:600;border-radius:3px;padding:1px 6px;color:#fff}
.sev-error{background:#c62828}.sev-warning{background:#b26a00}.sev-info{background:#1565c0}
tr.stuck td{background:#fff4f2}
.notes{color:#5a6272;margin:2px 0 0;padding-left:16px}
.counts span{margin-right:14px}
#graph{position:relative;height:70vh;border:1px solid #dde1e8;border-radius:4px;overflow:hidden;background:#fff;cursor:grab}
#graph.dragging{cursor:grabbing}
#graph svg{width:100%;height:100%;display:block}
.toolbar{margin:0 0 8px}
.toolbar button{font:inherit;margin-right:6px;padding:3px 10px;border:1px solid #c3c9d4;border-radius:4px;background:#fff;cursor:pointer}
.muted{color:#6b7280}
"""

# Pan with the mouse (drag), zoom with the wheel around the pointer; buttons fit or focus.
SCRIPT = """
(function(){
  var box=document.getElementById('graph'); if(!box) return;
  var svg=box.querySelector('svg'); if(!svg) return;
  var vb=svg.viewBox.baseVal, full=null;
  function toRoot(el){var b=el.getBBox(),m=svg.getScreenCTM().inverse().multiply(el.getScreenCTM());
    var pts=[[b.x,b.y],[b.x+b.width,b.y],[b.x,b.y+b.height],[b.x+b.width,b.y+b.height]].map(function(p){
      var q=svg.createSVGPoint();q.x=p[0];q.y=p[1];return q.matrixTransform(m);});
    var xs=pts.map(function(q){return q.x}),ys=pts.map(function(q){return q.y});
    var x0=Math.min.apply(0,xs),y0=Math.min.apply(0,ys);
    return {x:x0,y:y0,w:Math.max.apply(0,xs)-x0,h:Math.max.apply(0,ys)-y0};}
  function show(r,pad){var p=pad*Math.max(r.w,r.h)+20,x=r.x-p,y=r.y-p,w=r.w+2*p,h=r.h+2*p;
    var aspect=box.clientWidth/Math.max(box.clientHeight,1);
    if(w/h<aspect){var nw=h*aspect;x-=(nw-w)/2;w=nw;}else{var nh=w/aspect;y-=(nh-h)/2;h=nh;}
    svg.setAttribute('viewBox',[x,y,w,h].join(' '));vb=svg.viewBox.baseVal;}
  function disconnected(){var els=[].slice.call(svg.querySelectorAll('[class~=disconnected]'));
    if(!els.length){els=[].slice.call(svg.querySelectorAll('g')).filter(function(g){var t=g.querySelector(':scope>title');return t&&/disconnect/i.test(t.textContent);});}
    if(!els.length) return null;
    var x0=1/0,y0=1/0,x1=-1/0,y1=-1/0;
    els.forEach(function(e){var b=toRoot(e);x0=Math.min(x0,b.x);y0=Math.min(y0,b.y);x1=Math.max(x1,b.x+b.w);y1=Math.max(y1,b.y+b.h);});
    return {x:x0,y:y0,w:x1-x0,h:y1-y0};}
  svg.removeAttribute('width');svg.removeAttribute('height');
  if(!svg.getAttribute('viewBox')){var b=svg.getBBox();svg.setAttribute('viewBox',[b.x,b.y,b.width,b.height].join(' '));vb=svg.viewBox.baseVal;}
  full={x:vb.x,y:vb.y,w:vb.width,h:vb.height};
  var focus=disconnected();
  function fit(){show(full,0);} function home(){focus?show(focus,0.35):fit();}
  home();
  box.setAttribute('data-view', focus?'disconnected':'full');
  box.addEventListener('wheel',function(e){e.preventDefault();var k=e.deltaY<0?0.85:1/0.85;
    var rect=svg.getBoundingClientRect(),fx=(e.clientX-rect.left)/rect.width,fy=(e.clientY-rect.top)/rect.height;
    var nx=vb.x+fx*vb.width*(1-k),ny=vb.y+fy*vb.height*(1-k);
    svg.setAttribute('viewBox',[nx,ny,vb.width*k,vb.height*k].join(' '));vb=svg.viewBox.baseVal;},{passive:false});
  var drag=null;
  box.addEventListener('mousedown',function(e){drag={x:e.clientX,y:e.clientY,vx:vb.x,vy:vb.y};box.classList.add('dragging');});
  window.addEventListener('mouseup',function(){drag=null;box.classList.remove('dragging');});
  window.addEventListener('mousemove',function(e){if(!drag)return;var s=vb.width/svg.clientWidth;
    svg.setAttribute('viewBox',[drag.vx-(e.clientX-drag.x)*s,drag.vy-(e.clientY-drag.y)*s,vb.width,vb.height].join(' '));vb=svg.viewBox.baseVal;});
  function zoom(k){var cx=vb.x+vb.width/2,cy=vb.y+vb.height/2;svg.setAttribute('viewBox',[cx-vb.width*k/2,cy-vb.height*k/2,vb.width*k,vb.height*k].join(' '));vb=svg.viewBox.baseVal;}
  document.getElementById('zoom-focus').onclick=home;document.getElementById('zoom-fit').onclick=fit;
  document.getElementById('zoom-in').onclick=function(){zoom(0.8)};document.getElementById('zoom-out').onclick=function(){zoom(1.25)};
  if(!focus){document.getElementById('zoom-focus').disabled=true;}
})();
"""


def clean_svg(svg_text: str) -> str:
    """The SVG as inline markup: no prolog, no scripts or event handlers, no links out of the page."""
    for pattern in _UNSAFE_SVG:
        svg_text = pattern.sub("", svg_text)
    return _EXTERNAL_HREF.sub(r"\1\2#\2", svg_text).strip()


def _location(f: dict) -> str:
    cell = f"cell {f['cell']}:" if f.get("cell") is not None else ""
    line = f":{cell}{f['line']}" if f.get("line") else ""
    col = f":{f['column']}" if f.get("line") and f.get("column") else ""
    return f"{f.get('path', '')}{line}{col}"


def _findings_table(findings: list[dict]) -> str:
    if not findings:
        return "<p class='muted'>No findings.</p>"
    rows = []
    for f in sorted(findings, key=lambda f: (_SEVERITY_ORDER.get(f.get("severity"), 3), f.get("path", ""), f.get("line") or 0)):
        notes = "".join(f"<li><code>{escape(_location(r))}</code> {escape(r.get('message', ''))}</li>" for r in f.get("related", []))
        sev = escape(str(f.get("severity", "")))
        rows.append(
            f"<tr><td><span class='sev sev-{sev}'>{sev}</span></td>"
            f"<td><code>{escape(str(f.get('rule', '')))}</code><br><span class='muted'>{escape(str(f.get('name', '')))}</span></td>"
            f"<td><code>{escape(_location(f))}</code></td>"
            f"<td>{escape(str(f.get('message', '')))}{f'<ul class=notes>{notes}</ul>' if notes else ''}</td></tr>")
    return ("<table><thead><tr><th>Severity</th><th>Rule</th><th>Location</th><th>Message</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _parameters_table(params: list[dict]) -> str:
    def cell(value) -> str:
        if value is None:
            return "<span class='muted'>—</span>"
        if isinstance(value, bool):
            return "yes" if value else "<b>no</b>"
        if isinstance(value, float):
            return f"{value:.3g}"
        if isinstance(value, list):
            return "×".join(str(v) for v in value)
        return escape(str(value))

    stuck_first = sorted(params, key=lambda p: (bool(p.get("moved")), p.get("name", "")))
    rows = "".join(
        f"<tr class='{'' if p.get('moved') else 'stuck'}'><td><code>{escape(str(p.get('name', '')))}</code></td>"
        f"<td>{cell(p.get('shape'))}</td><td>{cell(p.get('requires_grad'))}</td><td>{cell(p.get('in_optimizer'))}</td>"
        f"<td>{cell(p.get('reachable'))}</td><td>{cell(p.get('grad_norm'))}</td><td>{cell(p.get('moved'))}</td>"
        f"<td>{cell(p.get('cause'))}</td><td>{cell(p.get('explanation'))}</td></tr>"
        for p in stuck_first)
    return ("<table><thead><tr><th>Parameter</th><th>Shape</th><th>requires_grad</th><th>In optimizer</th>"
            "<th>Reaches loss</th><th>Grad norm</th><th>Moved</th><th>Cause</th><th>Explanation</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def render(report_dict: dict, svg_text: str | None) -> str:
    """The page for a static (CONTRACT JSON) or runtime (trace JSON) report, with the graph SVG if given."""
    findings = report_dict.get("findings", [])
    params = report_dict.get("parameters")
    title = f"graphlint — {report_dict['script']}" if report_dict.get("script") else "graphlint report"
    steps = report_dict.get("steps") or {}
    facts = [f"{len(findings)} finding{'s' * (len(findings) != 1)}"]
    if params is not None:
        stuck = sum(1 for p in params if not p.get("moved"))
        facts.append(f"{stuck} of {len(params)} parameters never moved")
    facts += [f"{escape(str(k)).replace('_', ' ')}: {escape(str(v))}" for k, v in steps.items()]
    if report_dict.get("error"):
        facts.append(f"stopped: {escape(str(report_dict['error']))}")
    sections = [f"<section><h2>Findings</h2>{_findings_table(findings)}</section>"]
    if params is not None:
        sections.append(f"<section><h2>Parameters</h2>{_parameters_table(params)}</section>")
    if svg_text:
        sections.append(
            "<section><h2>Autograd graph</h2><div class='toolbar'>"
            "<button id='zoom-focus'>Disconnected part</button><button id='zoom-fit'>Whole graph</button>"
            "<button id='zoom-in'>+</button><button id='zoom-out'>−</button>"
            "<span class='muted'>drag to pan, scroll to zoom</span></div>"
            f"<div id='graph'>{clean_svg(svg_text)}</div></section>")
    errors = report_dict.get("errors") or []
    if errors:
        items = "".join(f"<li><code>{escape(str(e.get('path', '')))}</code>: {escape(str(e.get('message', '')))}</li>" for e in errors)
        sections.append(f"<section><h2>Files that could not be analysed</h2><ul>{items}</ul></section>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body><header><h1>{escape(title)}</h1><p class="counts">{''.join(f'<span>{f}</span>' for f in facts)}</p></header>
<main>{''.join(sections)}</main>
<footer class="muted" style="padding:0 24px 16px">graphlint {escape(__version__)}</footer>
<script>{SCRIPT}</script></body></html>
"""
