"""JUnit XML, for CI systems that show test reports (GitLab, Jenkins, Azure): a test case per
finding, failed, and one per file that could not be checked, in error."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from alttext.model import Report


def render(report: Report) -> str:
    cases = []
    for f in report.findings:
        name = quoteattr(f"{f.rule} {f.path}:{f.line}:{f.column}")
        text = f"{f.path}:{f.line}:{f.column}: {f.rule} {f.message}"
        cases.append(f'  <testcase classname={quoteattr(f.path)} name={name}>\n'
                     f'   <failure type={quoteattr(f.rule)} message={quoteattr(f.message)}>{_text(text)}</failure>\n  </testcase>\n')
    for e in report.errors:
        cases.append(f'  <testcase classname={quoteattr(e.path)} name={quoteattr(e.path)}>\n'
                     f'   <error message={quoteattr(e.message)}>{_text(e.message)}</error>\n  </testcase>\n')
    if not cases:  # a suite with no case reads as "no tests ran"
        cases.append(f'  <testcase classname="alttext" name={quoteattr(f"{report.files_checked} files checked")}/>\n')
    total = max(1, len(report.findings) + len(report.errors))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
            f' <testsuite name="alttext" tests="{total}" failures="{len(report.findings)}" errors="{len(report.errors)}">\n'
            + "".join(cases) + " </testsuite>\n</testsuites>\n")


def _text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
