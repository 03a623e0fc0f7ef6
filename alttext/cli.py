"""Command line: argparse wiring only. ``main(argv) -> exit code``.

Exit codes (``alttext.model``): 0 clean; 1 findings, or files rewritten; 2 usage or configuration
error, an input that could not be read or written, or an unusable model or server; 130 interrupted.

The flags that set an option come from ``alttext.options``; the flags of one command only are
declared here. Each command runs from its module in ``alttext.subcommands``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from alttext import __version__, messages
from alttext.config import ConfigError
from alttext.model import EXIT_CLEAN, EXIT_ERROR, EXIT_INTERRUPTED
from alttext.options import add_flags

# The options every command that describes images takes, in the order --help lists them.
PIPELINE = ("backend", "writer_model", "base_url", "captioner_backend", "captioner", "captioner_base_url", "captioner_model",
            "ocr", "captioner_precision", "language", "language_fallback", "length", "device", "batch_size", "grounding", "quantize")
_PATHS = "files or directories (default: .)"
_DIFF = "print a unified diff; write nothing"
_DRY_RUN = "say what would change; write nothing"
_EXIT_ZERO = "exit 0 when files were rewritten and nothing is left"


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
    for add in (_check, _describe, _fix, _apply, _watch, _eval, _review, _cache, _models):
        _config(add(commands))
    for sub in commands.choices.values():  # also after the command: alttext fix --debug
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an unexpected error")
    return parser


def _config(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", metavar="FILE", help="configuration file (default: nearest .alttext.toml or pyproject.toml)")


def _check(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    check = commands.add_parser("check", help="report images without alt text (no models needed)")
    check.add_argument("paths", nargs="*", metavar="PATH", help=_PATHS)
    add_flags(check, "check", "format")
    check.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                       help="colour the text format: auto (on a terminal, unless NO_COLOR is set), always, never")
    add_flags(check, "check", "strict", "include", "exclude", "select", "ignore", "respect_ignore", "engine", "quiet")
    check.add_argument("--require-files", action="store_true", help="exit 2 when the paths hold no HTML or Markdown file to check")
    check.add_argument("--stdin-filename", metavar="PATH", help="with the path -, the name of the text read from stdin (its dialect and "
                                                                "configuration follow it; default: stdin.md)")
    add_flags(check, "check", "jobs")
    return check


def _describe(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    describe = commands.add_parser("describe", help="write alt text for image files (loads the models)")
    describe.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, GIF, WebP, BMP, TIFF, SVG)")
    describe.add_argument("--context", metavar="TEXT", help="text around the image on its page (helps choose what matters)")
    describe.add_argument("--format", choices=("text", "json"), default="text",
                          help="text: a line per image (default); json: every field of each description")
    add_flags(describe, "describe", *PIPELINE, "cache")
    return describe


def _fix(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    fix = commands.add_parser("fix", help="write alt text into the files (loads the models)")
    fix.add_argument("paths", nargs="*", metavar="PATH", help=_PATHS)
    fix.add_argument("--diff", action="store_true", help=_DIFF)
    fix.add_argument("--dry-run", action="store_true", help=_DRY_RUN)
    fix.add_argument("--report", metavar="FILE", help="write proposals to FILE (.json, .csv or .md) for review; change no source file")
    add_flags(fix, "fix", "strict")
    fix.add_argument("--exit-zero-even-if-changed", action="store_true", help=_EXIT_ZERO)
    add_flags(fix, "fix", "fetch_remote", "follow_symlinks", "include", "exclude", "select", "ignore", "respect_ignore", "engine", "quiet")
    fix.add_argument("--shard", type=_shard, metavar="K/N", help="only the files of shard K of N (split a site across CI jobs)")
    add_flags(fix, "fix", *PIPELINE, "cache")
    return fix


def _apply(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    apply = commands.add_parser("apply", help="write reviewed reports (from fix --report) into the files")
    apply.add_argument("reports", nargs="+", metavar="REPORT", help="a .json or .csv report; several (one per shard) are applied together")
    apply.add_argument("--diff", action="store_true", help=_DIFF)
    apply.add_argument("--dry-run", action="store_true", help=_DRY_RUN)
    apply.add_argument("--exit-zero-even-if-changed", action="store_true", help=_EXIT_ZERO)
    add_flags(apply, "apply", "quiet", "follow_symlinks")
    return apply


def _watch(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    watch = commands.add_parser("watch", help="add alt text to new images as you save (loads the models)")
    watch.add_argument("paths", nargs="*", metavar="PATH", help=_PATHS)
    watch.add_argument("--report", action="store_true", help="print the proposed alt text; change no file")
    watch.add_argument("--debounce", type=float, default=0.5, metavar="SECONDS", help="act once a file has been quiet this long (default: %(default)s)")
    add_flags(watch, "watch", "strict", "fetch_remote", "follow_symlinks", "include", "exclude", "respect_ignore", "engine", *PIPELINE, "cache")
    return watch


def _eval(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    evaluate = commands.add_parser("eval", help="measure alt text quality on a dataset (loads the models)")
    evaluate.add_argument("dataset", nargs="?", metavar="DATASET", help="a .jsonl dataset (see docs/eval.md)")
    evaluate.add_argument("--from-caption", action="store_true", help="start from each item's caption: measure the writer stage alone")
    evaluate.add_argument("--format", choices=("text", "json"), default="text", help="text: a table (default); json: the report")
    evaluate.add_argument("--output", "-o", metavar="FILE", help="also save the JSON report to FILE (for --compare)")
    evaluate.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="which items got better or worse between two reports")
    add_flags(evaluate, "eval", *PIPELINE)
    return evaluate


def _review(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    review = commands.add_parser("review", help="see each picture beside its proposed alt text in a browser; accept, edit, apply")
    review.add_argument("report", metavar="REPORT", help="a .json report (fix --report FILE.json)")
    review.add_argument("--port", type=_port, default=0, help="the port on 127.0.0.1 (default: a free one)")
    review.add_argument("--no-browser", action="store_true", help="only print the page's address")
    review.add_argument("--export", metavar="FILE.html",
                        help="write one self-contained page instead (pictures inside; its decisions download as a report for apply)")
    review.add_argument("--editor-url", metavar="TEMPLATE",
                        help="link each place to your editor, e.g. vscode://file/{path}:{line}:{column} (default: that, inside VS Code's terminal)")
    return review


def _cache(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    cache = commands.add_parser("cache", help="show or clear the description cache")
    cache.add_argument("action", choices=("stats", "clear"), help="stats: entries, images and size; clear: remove every entry")
    return cache


def _models(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    models = commands.add_parser("models", help="list the configured models and where they are; pull downloads them")
    models.add_argument("action", nargs="?", choices=("list", "pull"), default="list",
                        help="list (default): each model, where it is and its size; pull: download the ones not here")
    add_flags(models, "models", "captioner_backend", "captioner", "captioner_model", "writer_model", "backend")
    return models


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (0 to 65535)")
    return port


def _shard(value: str) -> tuple[int, int]:
    from alttext.scan.files import parse_shard  # the file walker: not for --help

    try:
        return parse_shard(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    # A command's module is imported when it runs, so that `alttext check` loads no model code.
    if args.command == "check":
        from alttext.subcommands import check

        return check.run(args)
    if args.command == "describe":
        from alttext.subcommands import describe

        return describe.run(args)
    if args.command in ("fix", "apply"):
        from alttext.subcommands import fix

        return fix.run(args)
    if args.command == "watch":
        from alttext.subcommands import watch

        return watch.run(args)
    if args.command == "eval":
        from alttext.subcommands import evaluate

        return evaluate.run(args)
    if args.command == "review":
        from alttext.subcommands import review

        return review.run(args)
    if args.command == "cache":
        from alttext.subcommands import cache

        return cache.run(args)
    if args.command == "models":
        from alttext.subcommands import models

        return models.run(args)
    parser.print_help()
    return EXIT_CLEAN
