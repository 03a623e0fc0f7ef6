"""``alttext check``: report images without alt text. No model, no heavy import."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from alttext import messages
from alttext.config import config_groups, load_settings
from alttext.model import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, Report, Settings
from alttext.options import given
from alttext.report import github, render
from alttext.report.text import summary
from alttext.scan import files


def run(args: argparse.Namespace) -> int:
    cli = given(args)
    settings = load_settings(cli, config_path=args.config)
    report = _report(args, cli, settings)
    isatty = getattr(sys.stdout, "isatty", None)
    color = args.color == "always" or (args.color == "auto" and not os.environ.get("NO_COLOR") and bool(isatty and isatty()))
    sys.stdout.write(render(report, settings.format, color=color))
    if settings.format == "github":
        _github(report)
    sys.stdout.flush()
    for line in (*report.warnings, *(error.message for error in report.errors)):
        print(line, file=sys.stderr)
    nothing = not report.files_checked and not report.errors and args.require_files
    if nothing:
        print(messages.ERR_NOTHING.format(paths=", ".join(args.paths or ["."])), file=sys.stderr)
    elif settings.format == "text" and not settings.quiet:
        for line in summary(report, args.paths):
            print(line, file=sys.stderr)
    if report.errors or nothing:
        return EXIT_ERROR
    return EXIT_FINDINGS if report.findings else EXIT_CLEAN


def _report(args: argparse.Namespace, cli: dict[str, Any], settings: Settings) -> Report:
    # Each path is checked with its own nearest configuration, as ruff does (unless one is named).
    groups = [(settings, args.paths)] if args.config or os.environ.get("ALTTEXT_CONFIG") else [
        (settings if found == settings.config_file else load_settings(cli, config_path=found, discover=False), paths)
        for found, paths in config_groups(args.paths).items()]
    if args.paths == ["-"]:  # an editor's buffer, named by --stdin-filename for its dialect and the output
        name = args.stdin_filename or "stdin.md"
        result = files.check_file(name, load_settings(cli, config_path=args.config, cwd=os.path.dirname(os.path.abspath(name))),
                                  data=sys.stdin.buffer.read())
        return Report(1, result.findings, (result.error,) if result.error else (), result.warnings)
    reports = [files.check_paths(paths, group) for group, paths in groups]
    return Report(sum(r.files_checked for r in reports), tuple(f for r in reports for f in r.findings),
                  tuple(e for r in reports for e in r.errors), tuple(w for r in reports for w in r.warnings))


def _github(report: Report) -> None:
    sys.stdout.write(github.limit_notice(report))
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        try:
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
                f.write(github.step_summary(report))
        except OSError as exc:
            print(messages.FIX_UNWRITABLE.format(path=os.environ["GITHUB_STEP_SUMMARY"], reason=exc.strerror or exc), file=sys.stderr)
