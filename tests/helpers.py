from __future__ import annotations

import dataclasses

from alttext.model import Settings
from alttext.scan import scan_text


def found(text: str, kind: str, engine: str | None = None, **settings: object) -> list[tuple[int, int, str]]:
    """(line, column, rule) of every finding; also checks each exact span reads back its syntax."""
    results = scan_text("doc", text, dataclasses.replace(Settings(), **settings), kind=kind, engine=engine)
    for f in results:
        if f.exact:
            snippet = text[f.start : f.end]
            assert snippet.startswith(("![", "<", "{{<")), snippet
            assert snippet.endswith((")", "]", ">", ">}}")), snippet
    return [(f.line, f.column, f.rule) for f in results]
