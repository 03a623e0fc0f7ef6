"""Settings from ``[tool.alttext]`` in pyproject.toml or ``.alttext.toml``: CLI > env > file > defaults."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alttext.model import Settings

FORMATS = ("text", "json", "sarif", "github", "junit", "gitlab")
CONFIG_NAMES = (".alttext.toml", "pyproject.toml")


class ConfigError(Exception):
    """A bad setting; ``str()`` is one line naming where it came from and what is wrong."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source}: {detail}")
        self.source = source
        self.detail = detail


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, _Comma):  # from the environment or the command line: comma-separated
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, str):
        raise ValueError(f'expected a list of strings, not a string: write [{value!r}]'.replace("'", '"'))
    raise ValueError("expected a list of strings")


class _Comma(str):
    """A list given as one comma-separated string (an environment variable, a command-line flag)."""


# The option checks import what they check against when they run: cli.py imports this module for
# --version and --help, which must not load the scanner or the pipeline's registry.


def _rules(value: Any) -> tuple[str, ...]:
    from alttext.scan.rules import RULE_IDS

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


def _format(value: Any) -> str:
    if value not in FORMATS:
        raise ValueError(f"expected one of {', '.join(FORMATS)}")
    return value


def _languages(value: Any) -> tuple[str, ...]:
    from alttext.scan.rules import available_languages

    langs = _str_list(value)
    known = available_languages()
    for lang in langs:
        if lang not in known:
            raise ValueError(f"unknown language {lang!r}; word lists exist for {', '.join(known)}")
    return langs


def _engine(value: Any) -> str:
    from alttext.scan.engines import ENGINES

    if value not in ("auto", *ENGINES):
        raise ValueError(f"expected one of auto, {', '.join(ENGINES)}")
    return value


def _engines(value: Any) -> tuple[tuple[str, str], ...]:
    from alttext.scan.engines import ENGINES

    if not isinstance(value, dict):
        raise ValueError('expected a table of glob = engine, for example {"legacy/**" = "commonmark"}')
    for glob, engine in value.items():
        if engine not in ENGINES:
            raise ValueError(f"{glob!r}: expected one of {', '.join(ENGINES)}")
    return tuple(value.items())


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return check


def _backend(stage: str) -> Callable[[Any], str]:
    """One of the registered backends of ``stage`` (captioner or writer)."""

    def check(value: Any) -> str:
        from alttext.pipeline import backends

        names = backends.CAPTIONERS if stage == "captioner" else backends.WRITERS  # as registered now
        if value not in names:
            raise ValueError(f"expected one of {', '.join(names)}")
        return value

    return check


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


# Every key the configuration file accepts, with the function that validates it.
KEYS: dict[str, Callable[[Any], Any]] = {
    "include": _str_list,
    "exclude": _str_list,
    "select": _rules,
    "ignore": _rules,
    "per_file_ignores": _per_file_ignores,
    "respect_ignore": _bool,
    "strict": _bool,
    "format": _format,
    "quiet": _bool,
    "max_file_size": _positive_int,
    "languages": _languages,
    "jobs": _non_negative_int,
    "engine": _engine,
    "engines": _engines,
    "captioner_backend": _backend("captioner"),
    "captioner": _text,
    "captioner_base_url": _text,
    "captioner_model": _text,
    "captioner_precision": _choice("auto", "fp32", "bf16"),
    "ocr": _choice("auto", "on", "off"),
    "backend": _backend("writer"),
    "writer_model": _text,
    "base_url": _text,
    "language": _choice("en", "zh", "auto"),
    "language_fallback": _bool,
    "length": _non_negative_int,
    "device": _choice("auto", "cpu", "cuda", "mps"),
    "batch_size": _positive_int,
    "concurrency": _positive_int,
    "timeout": _seconds,
    "retries": _non_negative_int,
    "grounding": _choice("strict", "lenient", "off"),
    "quantize": _choice("auto", "none", "int8"),
    "cache": _bool,
    "cache_dir": _text,
    "site_root": _folder,
    "static_dirs": _str_list,
    "fetch_remote": _bool,
    "remote_allow_private": _bool,
    "max_image_size": _positive_int,
    "follow_symlinks": _bool,
}


def find_config(start: str) -> str | None:
    """The nearest ``.alttext.toml``, or ``pyproject.toml`` with ``[tool.alttext]``, upwards."""
    directory = os.path.abspath(start)
    while True:
        for name in CONFIG_NAMES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate) and (name != "pyproject.toml" or _has_table(candidate)):
                return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _has_table(pyproject: str) -> bool:
    try:
        with open(pyproject, "rb") as f:
            return b"[tool.alttext" in f.read()
    except OSError:
        return False


def read_config_file(path: str) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"invalid TOML: {exc}") from None
    if os.path.basename(path) == "pyproject.toml":
        table = data.get("tool", {}).get("alttext", {})
        prefix = "tool.alttext."
    else:
        table, prefix = data, ""
    if not isinstance(table, dict):
        raise ConfigError(path, f"{prefix.rstrip('.') or 'config'} must be a table")
    return {f"{prefix}{key}": value for key, value in table.items()}


def _validate(source: str, raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    values: dict[str, Any] = {}
    for shown, value in raw.items():
        key = shown[len(prefix) :] if shown.startswith(prefix) else shown
        key = key.replace("-", "_")
        if key not in KEYS:
            raise ConfigError(source, f"unknown key {shown!r} (known keys: {', '.join(sorted(KEYS))})")
        try:
            values[key] = KEYS[key](value)
        except ValueError as exc:
            raise ConfigError(source, f"{shown}: {exc}") from None
    return values


def config_groups(paths: Sequence[str]) -> dict[str | None, list[str]]:
    """The paths grouped by their nearest configuration file (None: none above them), in order."""
    groups: dict[str | None, list[str]] = {}
    for path in paths or ["."]:
        start = path if os.path.isdir(path) else (os.path.dirname(path) or ".")
        groups.setdefault(find_config(start), []).append(path)
    return groups


def load_settings(
    cli: Mapping[str, Any],
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
    discover: bool = True,
) -> Settings:
    """Resolve settings. ``cli`` holds only the options given on the command line. Without a
    ``config_path``, the nearest configuration above ``cwd`` is used, unless ``discover`` is False."""
    environ = os.environ if environ is None else environ
    cwd = cwd or os.getcwd()
    config_path = config_path or environ.get("ALTTEXT_CONFIG") or (find_config(cwd) if discover else None)
    values: dict[str, Any] = {}
    root = cwd
    if config_path:
        raw = read_config_file(config_path)
        values.update(_validate(config_path, raw, prefix="tool.alttext." if config_path.endswith("pyproject.toml") else ""))
        root = os.path.dirname(os.path.abspath(config_path))
    for key in KEYS:
        name = "ALTTEXT_" + key.upper()
        if name in environ:
            values.update(_validate(f"environment variable {name}", {key: _Comma(environ[name])}))
    extend = {k: tuple(cli[k]) for k in ("include", "exclude") if cli.get(k)}
    given = {k: _Comma(v) if isinstance(v, str) else v for k, v in cli.items() if v is not None and k not in extend}
    values.update(_validate("command line", given))
    settings = dataclasses.replace(Settings(), **values, root=root, config_file=config_path)
    # --include/--exclude on the command line add to what the file and environment set.
    if extend:
        settings = dataclasses.replace(
            settings,
            include=settings.include + extend.get("include", ()),
            exclude=settings.exclude + extend.get("exclude", ()),
        )
    return settings
