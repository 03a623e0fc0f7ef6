from __future__ import annotations

import dataclasses
import os

import pytest

from alttext.config import ConfigError, find_config, load_settings


def _write(path: str, text: str) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def test_defaults(tmp_path: os.PathLike[str]) -> None:
    s = load_settings({}, environ={}, cwd=str(tmp_path))
    assert (s.format, s.strict, s.exclude, s.config_file) == ("text", False, (), None)


def test_pyproject_found_walking_up(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    _write(os.path.join(root, "pyproject.toml"), '[tool.alttext]\nstrict = true\nexclude = ["drafts"]\n')
    os.makedirs(os.path.join(root, "docs", "a"))
    s = load_settings({}, environ={}, cwd=os.path.join(root, "docs", "a"))
    assert (s.strict, s.exclude, s.root) == (True, ("drafts",), root)


def test_pyproject_without_table_is_passed_over(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    _write(os.path.join(root, ".alttext.toml"), "format = 'json'\n")
    os.mkdir(os.path.join(root, "pkg"))
    _write(os.path.join(root, "pkg", "pyproject.toml"), "[project]\nname = 'x'\n")
    assert find_config(os.path.join(root, "pkg")) == os.path.join(root, ".alttext.toml")


def test_precedence_cli_env_file_default(tmp_path: os.PathLike[str]) -> None:
    cfg = _write(os.path.join(str(tmp_path), ".alttext.toml"), "format = 'json'\nstrict = true\nexclude = ['a']\n")
    env = {"ALTTEXT_FORMAT": "sarif", "ALTTEXT_EXCLUDE": "b, c"}
    s = load_settings({"format": "github", "exclude": ["d"]}, config_path=cfg, environ=env)
    assert (s.format, s.strict, s.exclude) == ("github", True, ("b", "c", "d"))
    s = load_settings({}, config_path=cfg, environ=env)
    assert s.format == "sarif"


ERRORS = [
    pytest.param("colour = 'red'\n", "unknown key 'colour' (known keys: backend, base_url, batch_size, cache, cache_dir, captioner, captioner_backend, captioner_base_url, captioner_model, captioner_precision, concurrency, device, engine, engines, exclude, fetch_remote, follow_symlinks, format, grounding, ignore, include, jobs, language, language_fallback, languages, length, max_file_size, max_image_size, ocr, per_file_ignores, quantize, quiet, remote_allow_private, respect_ignore, retries, select, site_root, static_dirs, strict, timeout, writer_model)", id="unknown-key"),
    pytest.param("strict = 'maybe'\n", "strict: expected true or false", id="bad-bool"),
    pytest.param("format = 'xml'\n", "format: expected one of text, json, sarif, github, junit, gitlab", id="bad-choice"),
    pytest.param("exclude = 'a'\nexclude = 'b'\n", "invalid TOML: Cannot overwrite a value (at line 2, column 14)", id="bad-toml"),
    pytest.param("languages = ['fr']\n", "languages: unknown language 'fr'; word lists exist for en, zh", id="bad-language"),
    pytest.param("max_file_size = 0\n", "max_file_size: expected a number > 0", id="zero-size"),
    pytest.param("jobs = true\n", "jobs: expected a whole number", id="bool-is-not-int"),
    pytest.param("captioner_backend = 'llava'\n", "captioner_backend: expected one of blip, openai, none", id="unknown-captioner-backend"),
    pytest.param("backend = 'vllm'\n", "backend: expected one of transformers, openai, none", id="unknown-writer-backend"),
    pytest.param("captioner_base_url = ' '\n", "captioner_base_url: expected a non-empty string", id="empty-captioner-url"),
]


@pytest.mark.parametrize(("text", "detail"), ERRORS)
def test_errors_name_file_and_key(tmp_path: os.PathLike[str], text: str, detail: str) -> None:
    cfg = _write(os.path.join(str(tmp_path), ".alttext.toml"), text)
    with pytest.raises(ConfigError) as info:
        load_settings({}, config_path=cfg, environ={})
    assert (info.value.source, info.value.detail) == (cfg, detail)


def test_pyproject_keys_are_shown_with_their_table(tmp_path: os.PathLike[str]) -> None:
    cfg = _write(os.path.join(str(tmp_path), "pyproject.toml"), "[tool.alttext]\nstrict = 3\n")
    with pytest.raises(ConfigError, match=r"tool\.alttext\.strict: expected true or false"):
        load_settings({}, config_path=cfg, environ={})


def test_env_errors_name_the_variable(tmp_path: os.PathLike[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({}, environ={"ALTTEXT_JOBS": "many"}, cwd=str(tmp_path))
    assert str(info.value) == "environment variable ALTTEXT_JOBS: jobs: expected a whole number"


def test_captioner_settings_default_to_the_writers(tmp_path: os.PathLike[str]) -> None:
    from alttext.pipeline.backends import captioner_backend, captioner_base_url, captioner_model

    cfg = _write(os.path.join(str(tmp_path), ".alttext.toml"), "base_url = 'http://gpu:8000'\nwriter_model = 'Qwen/Qwen2.5-VL-7B-Instruct'\n")
    s = load_settings({"captioner_backend": "openai"}, config_path=cfg, environ={})
    assert (captioner_backend(s), captioner_base_url(s), captioner_model(s)) == ("openai", "http://gpu:8000", "Qwen/Qwen2.5-VL-7B-Instruct")
    s = load_settings({}, config_path=cfg, environ={"ALTTEXT_CAPTIONER_BACKEND": "openai", "ALTTEXT_CAPTIONER_BASE_URL": "http://cpu:11434/v1",
                                                    "ALTTEXT_CAPTIONER_MODEL": "moondream"})
    assert (captioner_backend(s), captioner_base_url(s), captioner_model(s)) == ("openai", "http://cpu:11434/v1", "moondream")
    assert captioner_backend(load_settings({}, environ={}, discover=False)) == "blip"
    # The older spelling: captioner = "none" is the none backend, whatever captioner_backend says.
    assert captioner_backend(load_settings({"captioner": "none", "captioner_backend": "openai"}, environ={}, discover=False)) == "none"


def test_every_setting_is_an_option() -> None:
    from alttext.model import Settings
    from alttext.options import OPTIONS

    resolved = {"root", "config_file"}  # where the configuration was found: no option sets them
    assert sorted(OPTIONS) == sorted(f.name for f in dataclasses.fields(Settings) if f.name not in resolved)


def test_the_docs_option_reference_is_the_table() -> None:
    """After changing an option: python3 -m alttext.options docs/configuration.md"""
    from alttext.options import reference, with_reference
    from tests.conftest import REPO

    with open(os.path.join(REPO, "docs", "configuration.md"), encoding="utf-8") as f:
        page = f.read()
    assert reference() in page
    assert with_reference(page) == page


def test_flags_set_the_options_they_name(tmp_path: os.PathLike[str]) -> None:
    from alttext.cli import _parser
    from alttext.options import given

    args = _parser().parse_args(["fix", "--no-ignore", "--model", "m", "-q", "--select", "alt002", "--include", "*.txt", "--no-cache"])
    s = load_settings(given(args), environ={}, cwd=str(tmp_path))
    assert (s.respect_ignore, s.writer_model, s.quiet, s.select, s.include[-1], s.cache) == (False, "m", True, ("ALT002",), "*.txt", False)
    args = _parser().parse_args(["describe", "x.png", "--format", "json"])
    assert "format" not in given(args) and set(given(args)) >= {"backend", "cache"}  # describe's --format is its output's


def test_views_hold_what_the_leaf_modules_need() -> None:
    from alttext.model import Settings

    s = Settings(root="/site", site_root="web", static_dirs=("pub",), fetch_remote=True, max_image_size=9, timeout=3.0,
                 remote_allow_private=True)
    assert (s.remote.allow_private, s.remote.timeout, s.remote.max_image_size) == (True, 3.0, 9)
    assert (s.images.root, s.images.site_root, s.images.static_dirs, s.images.fetch_remote, s.images.remote) == \
        ("/site", "web", ("pub",), True, s.remote)
    assert s.images is s.images and s.images.remote is s.remote  # made once, on first use
    assert dataclasses.replace(s, timeout=4.0).images.remote.timeout == 4.0  # and again for other settings


@pytest.mark.parametrize(
    ("name", "default", "command", "shown"),
    [
        pytest.param("engine", "gfm", "check", "Markdown dialect: auto, commonmark, gfm (default), mdx, mkdocs, jekyll, hugo", id="choices"),
        pytest.param("engine", "gfm", "fix", "Markdown dialect (default: gfm)", id="default"),
        pytest.param("backend", "openai", "fix", "the writer: transformers (in process), openai (an OpenAI-compatible server, "
                     "default), none (the alt text composed from the evidence, no model)", id="mark"),
        pytest.param("device", "cpu", "fix", "where in-process models run (default: cpu)", id="auto-explained-only-as-default"),
        pytest.param("batch_size", 16, "fix", "images per captioning and writing batch (default: 16)", id="number"),
    ],
)
def test_a_flags_help_names_the_default_of_settings(monkeypatch: pytest.MonkeyPatch, name: str, default: object, command: str,
                                                    shown: str) -> None:
    from alttext import options

    monkeypatch.setitem(options._DEFAULTS, name, default)
    assert options.OPTIONS[name].help(command) == shown
