"""Settings from ``[tool.alttext]`` in pyproject.toml or ``.alttext.toml``: CLI > env > file > defaults.

Each value is checked by its option in ``alttext.options``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from alttext.model import Settings
from alttext.options import OPTIONS, Comma

CONFIG_NAMES = (".alttext.toml", "pyproject.toml")


class ConfigError(Exception):
    """A bad setting; ``str()`` is one line naming where it came from and what is wrong."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source}: {detail}")
        self.source = source
        self.detail = detail


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
        if key not in OPTIONS:
            raise ConfigError(source, f"unknown key {shown!r} (known keys: {', '.join(sorted(OPTIONS))})")
        try:
            values[key] = OPTIONS[key].parse(value)
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
    for option in OPTIONS.values():
        if option.env in environ:
            values.update(_validate(f"environment variable {option.env}", {option.name: Comma(environ[option.env])}))
    extend = {k: tuple(cli[k]) for k in ("include", "exclude") if cli.get(k)}
    given = {k: Comma(v) if isinstance(v, str) else v for k, v in cli.items() if v is not None and k not in extend}
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
