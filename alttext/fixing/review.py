"""Review instead of writing: ``alttext fix --report FILE`` and ``alttext apply FILE``.

A report lists every missing alt text with its proposal, location, image, base caption and lint
notes (JSON or CSV to edit and apply, Markdown to read). ``apply`` writes a reviewed report back:
an entry is applied only where the file still holds, at the recorded offsets, the very image
source text it held when the report was made. Anything else is skipped with a message.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from alttext import __version__, escape, messages
from alttext.fixing.fix import FileFix, Proposal, fixable, open_file
from alttext.model import Settings
from alttext.fixing.write import allowed_roots, inside

SCHEMA_VERSION = 1
FIELDS = ("path", "line", "column", "rule", "syntax", "src", "image", "start", "end", "original", "alt", "caption",
          "needs_review", "lint", "dropped", "reason", "kind", "decorative", "notes", "evidence", "context")


class ReportError(Exception):
    pass


# A spreadsheet runs a cell that starts like a formula (=HYPERLINK(...)); a leading ' makes it
# text. A value that itself starts with ' and one of these gets one more, so reading it back
# (``_cell_value``) is exact.
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")


def _inert_cell(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and _FORMULA.match(value) else value


def _cell_value(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and value.startswith("'") and _FORMULA.match(value) else value


def _cell(value: Any) -> Any:
    """A list or a mapping as one CSV cell."""
    if isinstance(value, dict):
        return " | ".join(f"{k}: {v}" for k, v in value.items())
    return " | ".join(value) if isinstance(value, list) else value


def entries(fixes: Sequence[FileFix], settings: Settings) -> list[dict[str, Any]]:
    root = os.path.realpath(settings.root)
    out = []
    for fix in fixes:
        for p in fix.proposals:
            f = p.finding
            image = ""
            if p.image and os.path.realpath(p.image).startswith(root + os.sep):
                image = os.path.relpath(os.path.realpath(p.image), root).replace(os.sep, "/")
            out.append({
                "path": fix.path, "line": f.line, "column": f.column, "rule": f.rule, "syntax": f.syntax, "src": f.src,
                "image": image, "start": f.start, "end": f.end, "original": fix.document.text[f.start : f.end],
                "alt": p.alt, "caption": p.caption, "needs_review": p.needs_review, "lint": list(p.lint),
                "dropped": list(p.dropped), "reason": p.reason or "", "kind": p.kind, "decorative": p.decorative,
                "notes": list(p.notes), "evidence": list(p.evidence), "context": dict(p.context),
            })
    return out


def render(rows: list[dict[str, Any]], path: str) -> str:
    kind = os.path.splitext(path)[1].lower()
    if kind == ".json":
        return json.dumps({"schema_version": SCHEMA_VERSION, "generator": f"alttext {__version__}", "entries": rows},
                          indent=2, ensure_ascii=False) + "\n"
    if kind == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _inert_cell(_cell(v)) for k, v in row.items() if k in FIELDS})
        return buffer.getvalue()
    if kind == ".md":
        def cell(value: Any) -> str:
            text = html.escape(" | ".join(value) if isinstance(value, list) else str(value), quote=False)
            return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")

        lines = ["| Location | Image | Proposed alt text | Base caption | Notes |", "|---|---|---|---|---|"]
        for r in rows:
            notes = r["reason"] or "; ".join(r["dropped"] or r["lint"]) or ""
            if r["needs_review"]:
                notes = ("needs review. " + notes).strip()
            lines.append(f"| {cell(r['path'])}:{r['line']}:{r['column']} | {cell(r['src'])} | {cell(r['alt'])} | {cell(r['caption'])} | {cell(notes)} |")
        return "\n".join(lines) + "\n"
    raise ReportError(messages.REPORT_FORMAT.format(path=path))


def load(path: str) -> list[dict[str, Any]]:
    """The entries of a JSON or CSV report."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except OSError as exc:
        raise ReportError(messages.APPLY_BAD.format(path=path, reason=exc.strerror or exc)) from None
    kind = os.path.splitext(path)[1].lower()
    try:
        if kind == ".json":
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION or not isinstance(data.get("entries"), list):
                raise ValueError(f"expected an object with schema_version {SCHEMA_VERSION} and entries")
            rows = data["entries"]
        elif kind == ".csv":
            rows = [{k: _cell_value(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]
        else:
            raise ValueError("apply reads .json or .csv reports")
        for row in rows:
            if not isinstance(row, dict):
                raise ValueError("an entry is not an object")
            for key in ("path", "start", "end", "original", "alt", "line", "column"):
                if key not in row:
                    raise ValueError(f"an entry has no {key!r}")
            for key in ("path", "original"):
                if not isinstance(row[key], str):
                    raise ValueError(f"an entry's {key!r} is not text")
            if row["alt"] is not None and not isinstance(row["alt"], str):
                raise ValueError("an entry's 'alt' is not text")
            row["start"], row["end"], row["line"], row["column"] = (int(row[k]) for k in ("start", "end", "line", "column"))
    except RecursionError:
        raise ReportError(messages.APPLY_BAD.format(path=path, reason="nested too deeply")) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise ReportError(messages.APPLY_BAD.format(path=path, reason=exc)) from None
    return rows


def reviewed(rows: list[dict[str, Any]], settings: Settings) -> tuple[list[FileFix], list[str], list[Any]]:
    """Files with the reviewed proposals that still match, the skip messages, and read errors."""
    by_path: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_path.setdefault(str(row["path"]), []).append(row)
    fixes, skipped, errors = [], [], []
    settings = replace(settings, strict=True)  # a reviewed entry may replace weak alt text too
    allowed = allowed_roots(settings.root, settings.follow_symlinks)
    for path, group in by_path.items():
        if allowed is not None and not inside(path, allowed):
            # A report names the project's pages; this one leads out (edited, or ../.. and links).
            for row in group:
                skipped.append(messages.APPLY_SKIPPED.format(path=path, line=row["line"], column=row["column"],
                                                             reason="the path leads outside the project"))
            continue
        fix, error = open_file(path, settings)
        if fix is None:
            errors.append(error)
            continue
        document = fix.document
        current = {f.start: f for f in fix.findings if fixable(f, settings)}
        for row in group:
            decision = row.get("review") or ""
            alt = escape.plain(str(row.get("alt") or ""))
            if decision == "skipped" or not (alt or decision == "decorative"):
                continue  # skipped by the reviewer, nothing proposed, or the reviewer removed it
            finding = current.get(row["start"])
            if document.text[row["start"] : row["end"]] != row["original"] or finding is None or finding.end != row["end"]:
                skipped.append(messages.APPLY_SKIPPED.format(path=path, line=row["line"], column=row["column"],
                                                             reason="the file no longer has this image there without alt text"))
                continue
            fix.proposals.append(Proposal(finding, mark_decorative=True) if decision == "decorative" else Proposal(finding, alt=alt))
        fixes.append(fix)
    return fixes, skipped, errors
