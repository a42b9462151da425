"""Small, safe HTML building blocks for the pages: escaping, tables, the page shell.

Every value that comes from a rule or from ATT&CK is untrusted text: it goes through `esc`
(element text and attribute values, quotes included) and links through `safe_url`, which
keeps only http(s) addresses. The page shell adds a Content-Security-Policy that allows no
script, no external request and only the inline style sheet, so even a value that slipped
through escaping could not run or fetch anything.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from functools import cache
from importlib.resources import files
from urllib.parse import urlsplit

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; " \
      "form-action 'none'"


def esc(value: object) -> str:
    """`value` as text safe inside an element or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def safe_url(url: str | None) -> str | None:
    """An http(s) address, escaped for an attribute; anything else (javascript:, data:) None."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return esc(url.strip()) if scheme in ("http", "https") else None


def link(text: object, url: str | None) -> str:
    """Escaped `text`, as a link when `url` is a safe http(s) address."""
    href = safe_url(url)
    return f'<a href="{href}" rel="noreferrer">{esc(text)}</a>' if href else esc(text)


def tag(name: str, text: object, cls: str | None = None) -> str:
    """`<name class=cls>text</name>` with `text` escaped."""
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<{name}{attr}>{esc(text)}</{name}>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table from headers (plain text) and rows of cells that are ALREADY HTML.

    Cells are trusted markup so callers can put links or code in them: build each cell
    with `esc`, `tag` or `link`.
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str, extra_css: str = "") -> str:
    """A whole self-contained document: inline style sheet, strict CSP, no script."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{stylesheet()}{extra_css}</style></head>"
        f"<body>{body}</body></html>\n"
    )


@cache
def stylesheet() -> str:
    """The shared style sheet, shipped as package data beside this module."""
    return files(__package__).joinpath("style.css").read_text(encoding="utf-8")


def plural(n: int, word: str) -> str:
    """`1 rule`, `2 rules`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
