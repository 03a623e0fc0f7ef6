"""GitLab Code Quality JSON (the ``codequality`` report of a merge request): an issue per finding,
with a fingerprint that stays the same while the image stays (its file, rule, source and how
many times the same source appeared before it in the file), so moving a line is not a new issue."""

from __future__ import annotations

import hashlib
import json

from alttext.model import Report

SEVERITY = {"ALT001": "major", "ALT002": "minor", "ALT003": "major"}


def render(report: Report) -> str:
    issues = []
    seen: dict[tuple[str, str, str], int] = {}
    for f in report.findings:
        key = (f.path, f.rule, f.src)
        seen[key] = seen.get(key, 0) + 1
        fingerprint = hashlib.sha256("\0".join([*key, str(seen[key])]).encode()).hexdigest()
        issues.append({"description": f"{f.rule} {f.message}", "check_name": f.rule, "fingerprint": fingerprint,
                       "severity": SEVERITY[f.rule], "location": {"path": f.path, "lines": {"begin": f.line}}})
    for e in report.errors:
        fingerprint = hashlib.sha256(f"{e.path}\0error\0{e.message}".encode()).hexdigest()
        issues.append({"description": e.message, "check_name": "alttext", "fingerprint": fingerprint, "severity": "blocker",
                       "location": {"path": e.path, "lines": {"begin": 1}}})
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
