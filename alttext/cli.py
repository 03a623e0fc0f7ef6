"""Command line: argparse wiring only. ``main(argv) -> exit code``.

Exit codes (``alttext.model``): 0 clean; 1 findings, or files rewritten; 2 usage or configuration
error, an input that could not be read or written, or an unusable model or server; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from alttext import __version__, messages
from alttext.config import FORMATS, ConfigError
from alttext.model import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, EXIT_INTERRUPTED


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(messages.USAGE_ERROR.format(detail=message), file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="alttext", description="Find and fix images without alt text in HTML and Markdown.")
    parser.add_argument("--version", action="version", version=f"alttext {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", help="report images without alt text (no models needed)")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: .)")
    check.add_argument("--format", choices=FORMATS, default=None, help="output format (default: text): " + ", ".join(FORMATS))
    check.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                       help="colour the text format: auto (on a terminal, unless NO_COLOR is set), always, never")
    check.add_argument("--strict", action="store_true", default=None, help="also report weak alt text (ALT002)")
    check.add_argument("--include", action="append", metavar="GLOB", help="also check files matching GLOB (repeatable)")
    check.add_argument("--exclude", action="append", metavar="GLOB", help="skip paths matching GLOB (repeatable)")
    check.add_argument("--select", metavar="RULES", help="report only these rules, comma-separated (default: ALT001,ALT003, and ALT002 with --strict)")
    check.add_argument("--ignore", metavar="RULES", help="do not report these rules, comma-separated")
    check.add_argument("--no-ignore", dest="respect_ignore", action="store_false", default=None,
                       help="also check files that .gitignore and .ignore leave out")
    check.add_argument("--engine", metavar="NAME", help="Markdown dialect: auto (default), commonmark, gfm, mdx, mkdocs, jekyll, hugo")
    check.add_argument("--quiet", "-q", action="store_true", default=None, help="no summary line")
    check.add_argument("--require-files", action="store_true", help="exit 2 when the paths hold no HTML or Markdown file to check")
    check.add_argument("--stdin-filename", metavar="PATH", help="with the path -, the name of the text read from stdin (its dialect and configuration "
                                                                "follow it; default: stdin.md)")
    check.add_argument("--jobs", "-j", type=int, default=None, metavar="N", help="processes to use (default: one per CPU)")
    check.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")
    describe = commands.add_parser("describe", help="write alt text for image files (loads the models)")
    describe.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, GIF, WebP, BMP, TIFF, SVG)")
    describe.add_argument("--context", metavar="TEXT", help="text around the image on its page (helps choose what matters)")
    describe.add_argument("--format", choices=("text", "json"), default="text",
                          help="text: a line per image (default); json: every field of each description")
    _pipeline_options(describe)
    describe.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")

    fix = commands.add_parser("fix", help="write alt text into the files (loads the models)")
    fix.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: .)")
    fix.add_argument("--diff", action="store_true", help="print a unified diff; write nothing")
    fix.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    fix.add_argument("--report", metavar="FILE", help="write proposals to FILE (.json, .csv or .md) for review; change no source file")
    fix.add_argument("--strict", action="store_true", default=None, help="also replace weak alt text (ALT002)")
    fix.add_argument("--exit-zero-even-if-changed", action="store_true", help="exit 0 when files were rewritten and nothing is left")
    fix.add_argument("--fetch-remote", action="store_true", default=None, help="download http(s) images to describe them")
    fix.add_argument("--follow-symlinks", action="store_true", default=None,
                     help="also write pages that are symbolic links to files outside the project")
    fix.add_argument("--include", action="append", metavar="GLOB", help="also fix files matching GLOB (repeatable)")
    fix.add_argument("--exclude", action="append", metavar="GLOB", help="skip paths matching GLOB (repeatable)")
    fix.add_argument("--select", metavar="RULES", help="report only these rules, comma-separated (default: ALT001,ALT003, and ALT002 with --strict)")
    fix.add_argument("--ignore", metavar="RULES", help="do not report these rules, comma-separated")
    fix.add_argument("--no-ignore", dest="respect_ignore", action="store_false", default=None,
                       help="also check files that .gitignore and .ignore leave out")
    fix.add_argument("--engine", metavar="NAME", help="Markdown dialect (default: auto)")
    fix.add_argument("--quiet", "-q", action="store_true", default=None, help="no summary line or progress bar")
    fix.add_argument("--shard", type=_shard, metavar="K/N", help="only the files of shard K of N (split a site across CI jobs)")
    _pipeline_options(fix)
    fix.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")

    apply = commands.add_parser("apply", help="write reviewed reports (from fix --report) into the files")
    apply.add_argument("reports", nargs="+", metavar="REPORT", help="a .json or .csv report; several (one per shard) are applied together")
    apply.add_argument("--diff", action="store_true", help="print a unified diff; write nothing")
    apply.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    apply.add_argument("--exit-zero-even-if-changed", action="store_true", help="exit 0 when files were rewritten and nothing is left")
    apply.add_argument("--quiet", "-q", action="store_true", default=None, help="no summary lines")
    apply.add_argument("--follow-symlinks", action="store_true", default=None,
                       help="also write pages that are symbolic links to files outside the project")
    apply.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")

    watch = commands.add_parser("watch", help="add alt text to new images as you save (loads the models)")
    watch.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: .)")
    watch.add_argument("--report", action="store_true", help="print the proposed alt text; change no file")
    watch.add_argument("--debounce", type=float, default=0.5, metavar="SECONDS", help="act once a file has been quiet this long (default: 0.5)")
    watch.add_argument("--strict", action="store_true", default=None, help="also replace weak alt text (ALT002)")
    watch.add_argument("--fetch-remote", action="store_true", default=None, help="download http(s) images to describe them")
    watch.add_argument("--follow-symlinks", action="store_true", default=None,
                       help="also write pages that are symbolic links to files outside the project")
    watch.add_argument("--include", action="append", metavar="GLOB", help="also watch files matching GLOB (repeatable)")
    watch.add_argument("--exclude", action="append", metavar="GLOB", help="skip paths matching GLOB (repeatable)")
    watch.add_argument("--no-ignore", dest="respect_ignore", action="store_false", default=None,
                       help="also check files that .gitignore and .ignore leave out")
    watch.add_argument("--engine", metavar="NAME", help="Markdown dialect (default: auto)")
    _pipeline_options(watch)
    watch.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")

    evaluate = commands.add_parser("eval", help="measure alt text quality on a dataset (loads the models)")
    evaluate.add_argument("dataset", nargs="?", metavar="DATASET", help="a .jsonl dataset (see docs/eval.md)")
    evaluate.add_argument("--from-caption", action="store_true", help="start from each item's caption: measure the writer stage alone")
    evaluate.add_argument("--format", choices=("text", "json"), default="text", help="text: a table (default); json: the report")
    evaluate.add_argument("--output", "-o", metavar="FILE", help="also save the JSON report to FILE (for --compare)")
    evaluate.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="which items got better or worse between two reports")
    _pipeline_options(evaluate, cache=False)
    evaluate.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")

    review = commands.add_parser("review", help="see each picture beside its proposed alt text in a browser; accept, edit, apply")
    review.add_argument("report", metavar="REPORT", help="a .json report (fix --report FILE.json)")
    review.add_argument("--port", type=_port, default=0, help="the port on 127.0.0.1 (default: a free one)")
    review.add_argument("--no-browser", action="store_true", help="only print the page's address")
    review.add_argument("--export", metavar="FILE.html",
                        help="write one self-contained page instead (pictures inside; its decisions download as a report for apply)")
    review.add_argument("--editor-url", metavar="TEMPLATE",
                        help="link each place to your editor, e.g. vscode://file/{path}:{line}:{column} (default: that, inside VS Code's terminal)")
    review.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")

    cache = commands.add_parser("cache", help="show or clear the description cache")
    cache.add_argument("action", choices=("stats", "clear"), help="stats: entries, images and size; clear: remove every entry")
    cache.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")
    models = commands.add_parser("models", help="list the configured models and where they are; pull downloads them")
    models.add_argument("action", nargs="?", choices=("list", "pull"), default="list",
                        help="list (default): each model, where it is and its size; pull: download the ones not here")
    models.add_argument("--captioner-backend", dest="captioner_backend", choices=("blip", "openai", "none"), default=None,
                        help="captioner backend (default: the configured one); only blip downloads a model")
    models.add_argument("--captioner", metavar="ID", help="captioner model (default: the configured one)")
    models.add_argument("--captioner-model", dest="captioner_model", metavar="ID", help="the captioner server's model (default: the configured one)")
    models.add_argument("--model", dest="writer_model", metavar="ID", help="writer model (default: the configured one)")
    models.add_argument("--backend", choices=("transformers", "openai", "none"), default=None, help="writer backend (default: the configured one)")
    models.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")
    for sub in commands.choices.values():  # also after the command: alttext fix --debug
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an unexpected error")
    return parser


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (0 to 65535)")
    return port


def _shard(value: str) -> tuple[int, int]:
    from alttext.scan.files import parse_shard

    try:
        return parse_shard(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# Settings keys the pipeline options set.
PIPELINE_KEYS = ("backend", "writer_model", "base_url", "captioner_backend", "captioner", "captioner_base_url", "captioner_model",
                 "captioner_precision", "ocr", "language", "language_fallback", "length", "device", "batch_size", "grounding", "quantize",
                 "cache")


def _pipeline_options(command: argparse.ArgumentParser, cache: bool = True) -> None:
    from alttext.pipeline.backends import CAPTIONERS, WRITERS

    command.add_argument("--backend", choices=tuple(WRITERS), default=None,
                         help="the writer: transformers (in process, default), openai (an OpenAI-compatible server), "
                              "none (the alt text composed from the evidence, no model)")
    command.add_argument("--model", dest="writer_model", metavar="ID", help="writer model: hub id, local folder, or the server's model name")
    command.add_argument("--base-url", dest="base_url", metavar="URL", help="OpenAI-compatible server, with or without /v1")
    command.add_argument("--captioner-backend", dest="captioner_backend", choices=tuple(CAPTIONERS), default=None,
                         help="the captioner: blip (in process, default), openai (a vision model on an OpenAI-compatible server), "
                              "none (the picture's text, kind, metadata and colours alone)")
    command.add_argument("--captioner", metavar="ID", help='BLIP model: hub id or local folder; "none" describes from the text, kind, metadata and colours of the picture alone')
    command.add_argument("--captioner-base-url", dest="captioner_base_url", metavar="URL",
                         help="the captioner's OpenAI-compatible server (default: --base-url)")
    command.add_argument("--captioner-model", dest="captioner_model", metavar="ID",
                         help="the captioner server's vision model (default: --model)")
    command.add_argument("--ocr", choices=("auto", "on", "off"), default=None,
                         help="read the text in images (the ocr extra): auto uses it when installed (default), on requires it")
    command.add_argument("--captioner-precision", dest="captioner_precision", choices=("auto", "fp32", "bf16"), default=None,
                         help="auto: fp16 on CUDA; on a CPU with native bf16, the vision encoder in bf16 and the text decoder in fp32; "
                              "fp32 elsewhere. bf16: all of BLIP in bfloat16")
    command.add_argument("--language", choices=("en", "zh", "auto"), default=None,
                         help="language of the alt text; auto follows each page's lang (default: en)")
    command.add_argument("--language-fallback", dest="language_fallback", action="store_true", default=None,
                         help="accept alt text in another language when none in the page's language can be made")
    command.add_argument("--length", type=int, default=None, metavar="N", help="target length in characters")
    command.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=None,
                         help="where in-process models run (default: auto: CUDA, then MPS, then the CPU)")
    command.add_argument("--batch-size", dest="batch_size", type=int, default=None, metavar="N",
                         help="images per captioning and writing batch (default: 8)")
    command.add_argument("--grounding", choices=("strict", "lenient", "off"), default=None,
                         help="drop (strict) or mark (lenient) sentences the caption and page do not support")
    command.add_argument("--quantize", choices=("auto", "none", "int8"), default=None,
                         help="int8: the in-process writer quantized on CPU; auto (default): where it is the faster")
    if cache:
        command.add_argument("--no-cache", dest="cache", action="store_false", default=None, help="neither read nor write the description cache")


def _describe(args: argparse.Namespace) -> int:
    import json

    from alttext.config import load_settings

    settings = load_settings({k: getattr(args, k) for k in PIPELINE_KEYS}, config_path=args.config)
    from alttext.pipeline.backends import BackendError
    from alttext.pipeline.cache import open_cache
    from alttext.pipeline.models import ModelLoadError
    from alttext.pipeline.describe import describe, preflight
    from alttext.pipeline.evidence.ocr import OCRUnavailable
    from alttext.model import Context
    from alttext.progress import Progress

    cache = open_cache(settings, lambda line: print(line, file=sys.stderr))
    try:
        note = preflight(settings)
        if note:
            print(note, file=sys.stderr)
        results = describe(args.images, [Context(sentence=args.context or "")] * len(args.images), settings,
                           cache=cache, progress=Progress.on_terminal())
    except (ModelLoadError, BackendError, OCRUnavailable) as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    finally:
        if cache is not None:
            cache.close()
    if args.format == "json":
        print(json.dumps([d.as_dict() for d in results], indent=2, ensure_ascii=False))
    for d in results:
        if d.error:
            print(d.error, file=sys.stderr)
        elif not d.text:
            print(f"{d.image}: {d.reason or 'no description could be written'}", file=sys.stderr)
        elif args.format == "text":
            print(f"{d.image}: {d.text}")
    return EXIT_FINDINGS if any(d.error or not d.text for d in results) else EXIT_CLEAN


def _check(args: argparse.Namespace) -> int:
    from alttext.config import config_groups, load_settings
    from alttext.model import Report
    from alttext.report import render
    from alttext.report.text import summary
    from alttext.scan.files import check_paths

    cli = {k: getattr(args, k) for k in ("format", "strict", "select", "ignore", "include", "exclude", "respect_ignore", "quiet", "jobs", "engine")}
    settings = load_settings(cli, config_path=args.config)
    # Each path is checked with its own nearest configuration, as ruff does (unless one is named).
    groups = [(settings, args.paths)] if args.config or os.environ.get("ALTTEXT_CONFIG") else [
        (settings if found == settings.config_file else load_settings(cli, config_path=found, discover=False), paths)
        for found, paths in config_groups(args.paths).items()]
    if args.paths == ["-"]:  # an editor's buffer, named by --stdin-filename for its dialect and the output
        from alttext.scan.files import check_file

        name = args.stdin_filename or "stdin.md"
        result = check_file(name, load_settings(cli, config_path=args.config, cwd=os.path.dirname(os.path.abspath(name))),
                            data=sys.stdin.buffer.read())
        reports = [Report(1, result.findings, (result.error,) if result.error else (), result.warnings)]
    else:
        reports = [check_paths(paths, group) for group, paths in groups]
    report = Report(sum(r.files_checked for r in reports), tuple(f for r in reports for f in r.findings),
                    tuple(e for r in reports for e in r.errors), tuple(w for r in reports for w in r.warnings))
    isatty = getattr(sys.stdout, "isatty", None)
    color = args.color == "always" or (args.color == "auto" and not os.environ.get("NO_COLOR") and bool(isatty and isatty()))
    sys.stdout.write(render(report, settings.format, color=color))
    if settings.format == "github":
        from alttext.report import github

        sys.stdout.write(github.limit_notice(report))
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            try:
                with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
                    f.write(github.step_summary(report))
            except OSError as exc:
                print(messages.FIX_UNWRITABLE.format(path=os.environ["GITHUB_STEP_SUMMARY"], reason=exc.strerror or exc), file=sys.stderr)
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


def _fix(args: argparse.Namespace) -> int:
    from alttext.fixing import commands
    from alttext.config import load_settings

    keys = ("include", "exclude", "respect_ignore", "select", "ignore", "engine", "quiet", "strict", "fetch_remote", "follow_symlinks",
            *PIPELINE_KEYS)
    settings = load_settings({k: getattr(args, k, None) for k in keys}, config_path=args.config)
    mode = commands.Mode(args.diff, args.dry_run, args.exit_zero_even_if_changed, settings.quiet)
    if args.command == "apply":
        return commands.apply(args.reports, settings, mode)
    return commands.fix(args.paths, settings, mode, report=args.report, shard=args.shard)


def _watch(args: argparse.Namespace) -> int:
    from alttext.config import load_settings

    keys = ("include", "exclude", "respect_ignore", "engine", "strict", "fetch_remote", "follow_symlinks", *PIPELINE_KEYS)
    settings = load_settings({k: getattr(args, k, None) for k in keys}, config_path=args.config)
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        print(messages.ERR_NOT_FOUND.format(path=missing[0]), file=sys.stderr)
        return EXIT_ERROR
    if args.debounce < 0:
        print(messages.USAGE_ERROR.format(detail="--debounce must be 0 or more seconds"), file=sys.stderr)
        return EXIT_ERROR
    from alttext.fixing.watch import watch  # without watchdog: one line naming the extra (main)

    from alttext.pipeline.describe import preflight
    from alttext.pipeline.evidence.ocr import OCRUnavailable

    try:
        note = preflight(settings)
    except OCRUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    if note:
        print(note, file=sys.stderr)
    return watch(args.paths, settings, report=args.report, debounce=args.debounce)


def _eval(args: argparse.Namespace) -> int:
    import json

    from alttext.eval import evaluation
    from alttext.config import load_settings

    if bool(args.dataset) == bool(args.compare):
        print(messages.USAGE_ERROR.format(detail=messages.EVAL_USAGE), file=sys.stderr)
        return EXIT_ERROR
    if args.compare:
        try:
            a, b = (evaluation.load_report(path) for path in args.compare)
        except evaluation.DatasetError as exc:
            print(exc, file=sys.stderr)
            return EXIT_ERROR
        text, worse = evaluation.compare(a, b, *args.compare)
        sys.stdout.write(text)
        return EXIT_FINDINGS if worse else EXIT_CLEAN
    settings = load_settings({k: getattr(args, k, None) for k in PIPELINE_KEYS}, config_path=args.config)
    from alttext.pipeline.backends import BackendError
    from alttext.pipeline.models import ModelLoadError
    from alttext.pipeline.describe import preflight
    from alttext.pipeline.evidence.ocr import OCRUnavailable
    from alttext.progress import Progress

    try:
        items = evaluation.load_dataset(args.dataset, settings, args.from_caption)
        note = preflight(settings)
        if note:
            print(note, file=sys.stderr)
        scores = evaluation.evaluate(items, settings, from_caption=args.from_caption, progress=Progress.on_terminal())
    except (evaluation.DatasetError, ModelLoadError, BackendError, OCRUnavailable) as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    data = evaluation.report(scores, settings, args.dataset, args.from_caption)
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    if args.output:
        try:
            from alttext.fixing.write import write_atomic

            write_atomic(args.output, text.encode("utf-8"), None)
        except OSError as exc:
            print(messages.FIX_UNWRITABLE.format(path=args.output, reason=exc.strerror or exc), file=sys.stderr)
            return EXIT_ERROR
    sys.stdout.write(text if args.format == "json" else evaluation.render(data))
    for s in scores:
        if s.error:
            print(s.error, file=sys.stderr)
    return EXIT_FINDINGS if any(s.error for s in scores) else EXIT_CLEAN


def _review(args: argparse.Namespace) -> int:
    from alttext.config import load_settings
    from alttext.fixing.review import ReportError
    from alttext.fixing.review_server import Review, Server

    settings = load_settings({}, config_path=args.config)
    if not args.report.lower().endswith(".json"):
        print(messages.REVIEW_JSON.format(path=args.report), file=sys.stderr)
        return EXIT_ERROR
    editor = args.editor_url
    if editor is None:
        editor = "vscode://file/{path}:{line}:{column}" if os.environ.get("TERM_PROGRAM") == "vscode" else ""
    try:
        editor.format(path="/a", line=1, column=1)
    except (KeyError, IndexError, ValueError, AttributeError):
        print(messages.REVIEW_EDITOR.format(template=editor), file=sys.stderr)
        return EXIT_ERROR
    try:
        review = Review(args.report, settings, editor=editor)
    except ReportError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    if args.export:
        import PIL  # noqa: F401 - the pictures are shrunk before they go in: the fix extra

        from alttext.fixing.review_server import export
        from alttext.fixing.write import write_atomic

        try:
            write_atomic(args.export, export(review).encode("utf-8"), None)
        except OSError as exc:
            print(messages.REVIEW_UNWRITABLE.format(path=args.export, reason=exc.strerror or exc), file=sys.stderr)
            return EXIT_ERROR
        print(messages.REVIEW_EXPORTED.format(path=args.export, entries=len(review.rows)), file=sys.stderr)
        return EXIT_CLEAN
    try:
        server = Server(review, port=args.port)
    except OSError as exc:
        print(messages.REVIEW_PORT.format(port=args.port, reason=exc.strerror or exc), file=sys.stderr)
        return EXIT_ERROR
    print(messages.REVIEW_SERVING.format(url=server.url), file=sys.stderr, flush=True)
    opener = None if args.no_browser else _open_privately(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if opener:
            with contextlib.suppress(OSError):
                os.unlink(opener)
    return EXIT_CLEAN


def _open_privately(url: str) -> str | None:
    """Open ``url`` in the browser through a file only this user can read that redirects to it:
    the browser's command line, which any local user can list, then holds no token (as Jupyter
    does). The file's path, to remove at the end."""
    import tempfile
    import webbrowser

    fd, path = tempfile.mkstemp(prefix="alttext-review-", suffix=".html")  # mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={url}"><a href="{url}">alttext review</a>\n')
    webbrowser.open("file://" + path)
    return path


def _cache(args: argparse.Namespace) -> int:
    from alttext.config import load_settings
    from alttext.pipeline import cache

    settings = load_settings({}, config_path=args.config)
    folder = cache.folder_for(settings)
    if args.action == "clear":
        try:
            entries = cache.clear(folder)
        except OSError as exc:
            print(messages.CACHE_UNUSABLE.format(path=folder, reason=exc.strerror or exc), file=sys.stderr)
            return EXIT_ERROR
        print(messages.CACHE_CLEARED.format(path=folder, entries=entries, entries_word=messages.plural(entries, "entry", "entries")), file=sys.stderr)
        return EXIT_CLEAN
    stats = cache.Cache(folder, lambda line: print(line, file=sys.stderr)).stats()
    if not stats.size:
        print(messages.CACHE_NONE.format(path=stats.path))
        return EXIT_CLEAN
    print(messages.CACHE_STATS.format(
        path=stats.path, entries=stats.entries, entries_word=messages.plural(stats.entries, "entry", "entries"),
        images=stats.images, images_word=messages.plural(stats.images, "image"), size=messages.size(stats.size)))
    return EXIT_CLEAN


# The extra that brings each optional package, for the one line a missing one gets.
EXTRAS = {"PIL": "fix", "openai": "fix", "watchdog": "watch", "torch": "local", "transformers": "local", "tokenizers": "local",
          "safetensors": "local", "huggingface_hub": "local", "gguf": "local", "accelerate": "local", "rapidocr_onnxruntime": "ocr",
          "onnxruntime": "ocr", "cv2": "ocr", "numpy": "fix"}
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a reader that went away (`alttext check | head`)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except ConfigError as exc:  # from any command: the file and key it came from, in one line
        print(messages.CONFIG_ERROR.format(path=exc.source, detail=exc.detail), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(messages.INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped reading: end quietly, and keep Python from complaining at exit too.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # a stream that is no file
            pass
        return EXIT_BROKEN_PIPE
    except ImportError as exc:
        # A crash is never exit 1 (findings): a CI gate that allows 1 must not pass on it.
        root = (exc.name or "").split(".")[0]
        if root not in EXTRAS or args.debug:
            return _unexpected(exc, args.debug)
        print(messages.EXTRA_MISSING.format(command=args.command, extra=EXTRAS[root], module=root), file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        return _unexpected(exc, args.debug)


def _unexpected(exc: BaseException, debug: bool) -> int:
    """One line and exit 2 (the traceback with ``--debug``), for an error nobody foresaw."""
    if debug:
        import traceback

        traceback.print_exception(exc)
    else:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(messages.UNEXPECTED.format(kind=type(exc).__name__, detail=f": {first}" if first else ""), file=sys.stderr)
    return EXIT_ERROR


def _models(args: argparse.Namespace) -> int:
    from alttext.config import load_settings
    from alttext.pipeline import models
    from alttext.pipeline.backends import captioner_backend, captioner_base_url, captioner_model
    from alttext.pipeline.evidence import ocr

    settings = load_settings({k: getattr(args, k) for k in ("captioner_backend", "captioner", "captioner_model", "writer_model", "backend")},
                             config_path=args.config)
    wanted = []
    if captioner_backend(settings) == "blip":  # a captioner on a server, or none, downloads nothing
        wanted.append(("captioner", settings.captioner, "captioner"))
    if settings.backend == "transformers":
        wanted.append(("writer", settings.writer_model, "writer_model"))
    found = [models.find(model, role, key) for role, model, key in wanted]
    if args.action == "pull":
        absent = [f for f in found if f.hub and not f.where]
        if absent and not models.hub_reachable():
            print(messages.MODELS_OFFLINE, file=sys.stderr)
            return EXIT_ERROR
        for f in absent:
            print(messages.MODELS_PULLING.format(role=f.role, model=f.model), file=sys.stderr)
            models.pull(f.model)
        found = [models.find(f.model, f.role, f.key) for f in found]
    for f in found:
        where = f"{f.where}  {messages.size(f.size)}" if f.where else messages.MODELS_ABSENT
        print(messages.MODELS_ROW.format(role=f.role, model=f.model, where=where))
    if captioner_backend(settings) == "openai":
        print(messages.MODELS_ROW.format(role="captioner", model=captioner_model(settings),
                                         where=messages.MODELS_ON_SERVER.format(base_url=captioner_base_url(settings))))
    if settings.backend == "openai":
        print(messages.MODELS_ROW.format(role="writer", model=settings.writer_model, where=messages.MODELS_ON_SERVER.format(base_url=settings.base_url)))
    print(messages.MODELS_ROW.format(role="ocr", model=ocr.engine_version() if ocr.available() else "none",
                                     where="(its models are inside the package)" if ocr.available() else "pip install 'alttext[ocr]'"))
    return EXIT_CLEAN if all(f.where for f in found) else EXIT_FINDINGS


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "models":
        return _models(args)
    if args.command == "check":
        return _check(args)
    if args.command == "describe":
        return _describe(args)
    if args.command in ("fix", "apply"):
        return _fix(args)
    if args.command == "cache":
        return _cache(args)
    if args.command == "review":
        return _review(args)
    if args.command == "watch":
        return _watch(args)
    if args.command == "eval":
        return _eval(args)
    parser.print_help()
    return EXIT_CLEAN
