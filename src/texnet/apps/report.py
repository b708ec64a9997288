"""Small HTML pages (figures with captions, sections of text) for the demo, evaluate and reproduce reports."""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Union

from texnet.io.files import atomic_write


@dataclass
class Figure:
    """An image on the page: a path relative to the page, a caption."""

    src: str
    caption: str = ""
    width: Optional[int] = None


@dataclass
class Section:
    """A titled block: paragraphs of text, a row of figures, optionally a table."""

    title: str
    text: List[str] = field(default_factory=list)
    figures: List[Figure] = field(default_factory=list)
    table: Optional[List[List[str]]] = None  # first row is the header


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure{margin:0} figure img{max-width:100%;image-rendering:auto;border:1px solid #ccc}
figcaption{font-size:.85em;color:#555;max-width:420px}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:.25em .6em;font-size:.9em;text-align:left}
.ok{color:#176f2c;font-weight:600} .miss{color:#a32020;font-weight:600} p{line-height:1.45}
"""


def render_html(title: str, sections: Sequence[Section], intro: Sequence[str] = ()) -> str:
    """A self-contained page (inline CSS, relative image links). Text is escaped except <b>/<span> markup we add."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    out += [f"<p>{p}</p>" for p in intro]
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        out += [f"<p>{p}</p>" for p in s.text]
        if s.figures:
            out.append("<div class='row'>")
            for f in s.figures:
                w = f" width='{f.width}'" if f.width else ""
                out.append(
                    f"<figure><a href='{html.escape(f.src)}'><img src='{html.escape(f.src)}'{w} "
                    f"alt='{html.escape(f.caption)}'></a><figcaption>{html.escape(f.caption)}</figcaption></figure>"
                )
            out.append("</div>")
        if s.table:
            out.append("<table>")
            head, *rows = s.table
            out.append("<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in head) + "</tr>")
            for r in rows:
                out.append("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
            out.append("</table>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write_html(path: Union[str, os.PathLike], title: str, sections: Sequence[Section], intro: Sequence[str] = ()) -> Path:
    """Write the page atomically."""
    text = render_html(title, sections, intro)
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
