"""Every option, declared once: how a value is checked, its flag, its meaning and its group.

The configuration file, the ``ALTTEXT_<NAME>`` environment variables and the flags are all
checked here (``alttext.config``); the subcommands' flags are built from here (``alttext.cli``);
the defaults are ``Settings``' own (``alttext.model``); the option reference of
docs/configuration.md is rendered from here. After changing an option, regenerate it with

    python3 -m alttext.options docs/configuration.md
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alttext.model import Settings
from alttext.pipeline import backends
from alttext.scan.engines import ENGINES
from alttext.scan.rules import RULE_IDS, available_languages

FORMATS = ("text", "json", "sarif", "github", "junit", "gitlab")


class Comma(str):
    """A list given as one comma-separated string (an environment variable, a command-line flag)."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, Comma):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, str):
        raise ValueError(f'expected a list of strings, not a string: write [{value!r}]'.replace("'", '"'))
    raise ValueError("expected a list of strings")


def _rules(value: Any) -> tuple[str, ...]:
    rules = tuple(r.upper() for r in _str_list(value))
    unknown = [r for r in rules if r not in RULE_IDS]
    if unknown:
        raise ValueError(f"unknown rule {unknown[0]!r} (rules: {', '.join(RULE_IDS)})")
    return rules


def _per_file_ignores(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise ValueError('expected a table of glob = [rules], for example {"legacy/**" = ["ALT002"]}')
    return tuple((glob, _rules(rules)) for glob, rules in value.items())


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError("expected a whole number") from None
    if n < 0:
        raise ValueError("expected a number >= 0")
    return n


def _positive_int(value: Any) -> int:
    n = _non_negative_int(value)
    if n == 0:
        raise ValueError("expected a number > 0")
    return n


def _languages(value: Any) -> tuple[str, ...]:
    langs = _str_list(value)
    known = available_languages()
    for lang in langs:
        if lang not in known:
            raise ValueError(f"unknown language {lang!r}; word lists exist for {', '.join(known)}")
    return langs


def _engines(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError('expected a table of glob = engine, for example {"legacy/**" = "commonmark"}')
    for glob, engine in value.items():
        if engine not in ENGINES:
            raise ValueError(f"{glob!r}: expected one of {', '.join(ENGINES)}")
    return tuple(value.items())


@dataclass(frozen=True)
class Choice:
    """One of ``names()``, asked at each check: plugins add backends to the registries."""

    names: Callable[[], tuple[str, ...]]

    def __call__(self, value: Any) -> str:
        if value not in self.names():
            raise ValueError(f"expected one of {', '.join(self.names())}")
        return value


def _one_of(*names: str) -> Choice:
    return Choice(lambda: names)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _seconds(value: Any) -> float:
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number of seconds") from None
    if n <= 0 or isinstance(value, bool):
        raise ValueError("expected a number of seconds > 0")
    return n


def _folder(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a folder path relative to the project root")
    return value.strip()


@dataclass(frozen=True)
class Flag:
    """An option's command-line flag. Its value is checked like the file's (``Option.parse``);
    ``type`` converts first where argparse itself should refuse a bad value. A flag without a
    ``metavar`` whose option is a ``Choice`` lists the choices.

    The help names the default through fields, so that it is written once (in ``Settings``):
    ``{default}`` is the option's default; for a ``Choice``, ``{mark[NAME]}`` is ``mark`` where
    NAME is the default and nothing elsewhere, and ``{choices}`` the choices with the mark."""

    names: tuple[str, ...]
    help: str
    action: str | None = None  # store_true; store_false (a --no- flag); append (the value adds to the lists)
    metavar: str | None = None
    type: Callable[[str], Any] | None = None
    help_in: Mapping[str, str] = field(default_factory=dict)  # the help in other words, by subcommand
    mark: str = " (default)"


@dataclass(frozen=True)
class Option:
    """A setting: its ``name`` is the file's key, ``ALTTEXT_<NAME>`` and the ``Settings`` field."""

    name: str
    parse: Callable[[Any], Any]  # a value from the file, the environment or a flag -> the setting; ValueError
    # Its heading in the option reference: one per option, for readers. The groups modules take
    # (``Settings.remote``, ``images``) are cut by use instead, and share options (``timeout``).
    group: str
    meaning: str  # for the option reference
    flag: Flag | None = None
    table: bool = False  # a TOML table (glob = value) in the file

    @property
    def env(self) -> str:
        return "ALTTEXT_" + self.name.upper()

    @property
    def default(self) -> Any:
        return _DEFAULTS[self.name]

    def help(self, command: str) -> str:
        """The flag's help in ``command``, its fields filled in (see ``Flag``)."""
        assert self.flag is not None, self.name
        names = self.parse.names() if isinstance(self.parse, Choice) else ()
        mark = {name: self.flag.mark if name == self.default else "" for name in names}
        choices = ", ".join(name + mark[name] for name in names)
        return self.flag.help_in.get(command, self.flag.help).format(default=self.default, mark=mark, choices=choices)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings)}
CHECKING, DESCRIBING, FIXING = "Files and rules", "Describing images", "Finding images and writing"
_CONFIGURED = "(default: the configured one)"

OPTIONS: dict[str, Option] = {option.name: option for option in (
    Option("include", _str_list, CHECKING, "files to check when walking directories: a glob without `/` matches the file name, "
           "one with `/` the path from the project root",
           Flag(("--include",), "also check files matching GLOB (repeatable)", "append", "GLOB",
                help_in={"fix": "also fix files matching GLOB (repeatable)", "watch": "also watch files matching GLOB (repeatable)"})),
    Option("exclude", _str_list, CHECKING, "paths to skip; a glob without `/` matches any file or directory name, one with `/` "
           "is anchored at the project root, `**` spans directories",
           Flag(("--exclude",), "skip paths matching GLOB (repeatable)", "append", "GLOB")),
    Option("select", _rules, CHECKING, "the rules to report (`[]`: ALT001 and ALT003, and ALT002 with `strict`)",
           Flag(("--select",), "report only these rules, comma-separated (default: ALT001,ALT003, and ALT002 with --strict)",
                metavar="RULES")),
    Option("ignore", _rules, CHECKING, "rules not to report",
           Flag(("--ignore",), "do not report these rules, comma-separated", metavar="RULES")),
    Option("per_file_ignores", _per_file_ignores, CHECKING, "rules not to report in files matching a glob: "
           '`[tool.alttext.per-file-ignores]` then `"legacy/**" = ["ALT002"]`', table=True),
    Option("respect_ignore", _bool, CHECKING, "leave out what `.gitignore` (in a Git work tree) and `.ignore` files leave out "
           "(`--no-ignore`: false)",
           Flag(("--no-ignore",), "also check files that .gitignore and .ignore leave out", "store_false")),
    Option("strict", _bool, CHECKING, "also report weak alt text (ALT002)",
           Flag(("--strict",), "also report weak alt text (ALT002)", "store_true",
                help_in={"fix": "also replace weak alt text (ALT002)", "watch": "also replace weak alt text (ALT002)"})),
    Option("format", _one_of(*FORMATS), CHECKING, "`text`, `json`, `sarif`, `github`, `junit` or `gitlab`",
           Flag(("--format",), "output format (default: {default}): " + ", ".join(FORMATS))),
    Option("quiet", _bool, CHECKING, "no summary line",
           Flag(("--quiet", "-q"), "no summary line", "store_true",
                help_in={"fix": "no summary line or progress bar", "apply": "no summary lines"})),
    Option("max_file_size", _positive_int, CHECKING, "larger files are reported and skipped"),
    Option("languages", _languages, CHECKING, "word lists for ALT002"),
    Option("jobs", _non_negative_int, CHECKING, "processes (0: one per CPU)",
           Flag(("--jobs", "-j"), "processes to use (default: one per CPU)", metavar="N", type=int)),
    Option("engine", _one_of("auto", *ENGINES), CHECKING, "Markdown dialect: " + ", ".join(f"`{e}`" for e in ("auto", *ENGINES)),
           Flag(("--engine",), "Markdown dialect: {choices}", metavar="NAME",
                help_in={"fix": "Markdown dialect (default: {default})", "watch": "Markdown dialect (default: {default})"})),
    Option("engines", _engines, CHECKING, 'per-glob dialects, first match wins: `engines = { "legacy/**" = "commonmark" }`', table=True),
    Option("captioner_backend", Choice(lambda: tuple(backends.CAPTIONERS)), DESCRIBING,
           "captioner: `blip` (in process), `openai` (a vision model on an OpenAI-compatible server), `none` "
           "(see [docs/backends.md](backends.md))",
           Flag(("--captioner-backend",), "the captioner: blip (in process{mark[blip]}), openai (a vision model on an OpenAI-compatible "
                "server{mark[openai]}), none (the picture's text, kind, metadata and colours alone{mark[none]})", mark=", default",
                help_in={"models": f"captioner backend {_CONFIGURED}; only blip downloads a model"})),
    Option("captioner", _text, DESCRIBING, 'BLIP model: hub id or local folder; `"none"` describes from the picture\'s text, kind, '
           "metadata and colours alone",
           Flag(("--captioner",), 'BLIP model: hub id or local folder; "none" describes from the text, kind, metadata and colours '
                "of the picture alone", metavar="ID", help_in={"models": f"captioner model {_CONFIGURED}"})),
    Option("captioner_base_url", _text, DESCRIBING, "the captioner's OpenAI-compatible server (`\"\"`: `base_url`)",
           Flag(("--captioner-base-url",), "the captioner's OpenAI-compatible server (default: --base-url)", metavar="URL")),
    Option("captioner_model", _text, DESCRIBING, "the captioner server's vision model (`\"\"`: `writer_model`)",
           Flag(("--captioner-model",), "the captioner server's vision model (default: --model)", metavar="ID",
                help_in={"models": f"the captioner server's model {_CONFIGURED}"})),
    Option("captioner_precision", _one_of("auto", "fp32", "bf16"), DESCRIBING,
           "`auto` (fp16 on CUDA; on a CPU with native bf16, the vision encoder in bf16 and the text decoder in fp32; fp32 "
           "elsewhere), `fp32`, or `bf16` (all of BLIP, see [docs/performance.md](performance.md))",
           Flag(("--captioner-precision",), "auto: fp16 on CUDA; on a CPU with native bf16, the vision encoder in bf16 and the "
                "text decoder in fp32; fp32 elsewhere. bf16: all of BLIP in bfloat16")),
    Option("ocr", _one_of("auto", "on", "off"), DESCRIBING,
           "read the text in images (the `ocr` extra): `auto` when it is installed, `on` (required), `off`",
           Flag(("--ocr",), "read the text in images (the ocr extra): auto uses it when installed{mark[auto]}, "
                "on requires it{mark[on]}")),
    Option("backend", Choice(lambda: tuple(backends.WRITERS)), DESCRIBING,
           "writer: `transformers` (in process), `openai` (any OpenAI-compatible server), `none` (the alt text composed from "
           "the evidence)",
           Flag(("--backend",), "the writer: transformers (in process{mark[transformers]}), openai (an OpenAI-compatible "
                "server{mark[openai]}), none (the alt text composed from the evidence, no model{mark[none]})", mark=", default",
                help_in={"models": f"writer backend {_CONFIGURED}"})),
    Option("writer_model", _text, DESCRIBING,
           "hub id, local folder or `.gguf` file for `transformers`; the server's model name for `openai`",
           Flag(("--model",), "writer model: hub id, local folder, or the server's model name", metavar="ID",
                help_in={"models": f"writer model {_CONFIGURED}"})),
    Option("base_url", _text, DESCRIBING, "the OpenAI-compatible server, with or without `/v1`",
           Flag(("--base-url",), "OpenAI-compatible server, with or without /v1", metavar="URL")),
    Option("language", _one_of("en", "zh", "auto"), DESCRIBING, "`en`, `zh`, or `auto` (the page's `lang`)",
           Flag(("--language",), "language of the alt text; auto follows each page's lang (default: {default})")),
    Option("language_fallback", _bool, DESCRIBING,
           "accept alt text in another language when none in the page's language can be made",
           Flag(("--language-fallback",), "accept alt text in another language when none in the page's language can be made",
                "store_true")),
    Option("length", _non_negative_int, DESCRIBING, "target alt text length in characters (0: 125 for English, 60 for Chinese)",
           Flag(("--length",), "target length in characters", metavar="N", type=int)),
    Option("device", _one_of("auto", "cpu", "cuda", "mps"), DESCRIBING, "`auto` (CUDA, then MPS, then CPU), `cpu`, `cuda`, `mps`",
           Flag(("--device",), "where in-process models run (default: {default}{mark[auto]})", mark=": CUDA, then MPS, then the CPU")),
    Option("batch_size", _positive_int, DESCRIBING, "images per captioning and generation batch (on a CPU with AMX, 16 was faster "
           "and took about 0.3 GB more; see [benchmarks/README.md](../benchmarks/README.md))",
           Flag(("--batch-size",), "images per captioning and writing batch (default: {default})", metavar="N", type=int)),
    Option("concurrency", _positive_int, DESCRIBING, "requests in flight to an OpenAI-compatible server"),
    Option("timeout", _seconds, DESCRIBING, "seconds per request to the server"),
    Option("retries", _non_negative_int, DESCRIBING, "retries of a request (timeouts, 429, 5xx), with exponential backoff"),
    Option("grounding", _one_of("strict", "lenient", "off"), DESCRIBING, "the grounding guard: `strict` drops sentences the "
           "evidence does not support, `lenient` keeps them marked for review, `off`",
           Flag(("--grounding",), "drop (strict) or mark (lenient) sentences the caption and page do not support")),
    Option("quantize", _one_of("auto", "none", "int8"), DESCRIBING, "`int8`: the in-process writer's linear layers in int8 "
           "through torchao, on CPU (the `int8` extra); `auto`: int8 where torchao is installed and the CPU is an x86-64 one "
           "without AMX, where it measured faster; `none` (see [docs/performance.md](performance.md))",
           Flag(("--quantize",), "int8{mark[int8]}: the in-process writer quantized on CPU; auto{mark[auto]}: where it is the faster")),
    Option("cache", _bool, DESCRIBING, "reuse descriptions from the cache (`--no-cache` turns it off for one run)",
           Flag(("--no-cache",), "neither read nor write the description cache", "store_false")),
    Option("cache_dir", _text, DESCRIBING, "the cache folder, relative to the project root (or absolute)"),
    Option("site_root", _folder, FIXING, "folder that root-relative `src=\"/img/a.png\"` resolve against, relative to the project "
           "root (`\"\"`: the site's folder, see [Fixing](fix.md))"),
    Option("static_dirs", _str_list, FIXING, "more folders served at the site root (`[]`: the engine's, see [Fixing](fix.md))"),
    Option("fetch_remote", _bool, FIXING, "download `http(s)` images to describe them (also `--fetch-remote`)",
           Flag(("--fetch-remote",), "download http(s) images to describe them", "store_true")),
    Option("remote_allow_private", _bool, FIXING, "let remote images come from loopback, private and link-local addresses"),
    Option("max_image_size", _positive_int, FIXING, "bytes, for `data:` URIs and downloaded images"),
    Option("follow_symlinks", _bool, FIXING, "also write pages that are symbolic links to files outside the project "
           "(also `--follow-symlinks`)",
           Flag(("--follow-symlinks",), "also write pages that are symbolic links to files outside the project", "store_true")),
)}


def add_flags(parser: argparse.ArgumentParser, command: str, *names: str) -> None:
    """Add the flags of the options ``names`` to ``command``'s parser, in that order; ``given``
    reads them back."""
    for name in names:
        option = OPTIONS[name]
        flag = option.flag
        assert flag is not None, name
        extra: dict[str, Any] = {k: v for k, v in (("action", flag.action), ("metavar", flag.metavar), ("type", flag.type)) if v}
        if flag.metavar is None and isinstance(option.parse, Choice):
            extra["choices"] = option.parse.names()
        parser.add_argument(*flag.names, dest=name, default=None, help=option.help(command), **extra)
    parser.set_defaults(option_names=(*(parser.get_default("option_names") or ()), *names))


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The options of the command's flags, by name (None: not on the command line)."""
    return {name: getattr(args, name) for name in getattr(args, "option_names", ())}


def _toml(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return f'"{value}"' if isinstance(value, str) else str(value)


def reference() -> str:
    """The option reference of docs/configuration.md: a table of keys for each group."""
    parts = []
    for group in dict.fromkeys(o.group for o in OPTIONS.values()):
        rows = [f"| `{o.name}` | `{'{}' if o.table else _toml(o.default)}` | {o.meaning} |" for o in OPTIONS.values() if o.group == group]
        parts.append("\n".join((f"## {group}", "", "| key | default | meaning |", "| --- | --- | --- |", *rows)))
    return "\n\n".join(parts) + "\n"


BEGIN, END = "<!-- options: python3 -m alttext.options docs/configuration.md -->\n", "<!-- end options -->\n"


def with_reference(page: str) -> str:
    """``page`` with the text between its BEGIN and END lines replaced by ``reference()``."""
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{reference()}\n{END}{tail}"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        text = with_reference(f.read())
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        f.write(text)
