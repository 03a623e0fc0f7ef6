"""The nouns of alttext. Plain frozen dataclasses, no behaviour."""

from __future__ import annotations

import functools
from dataclasses import dataclass

# Exit codes: 0 nothing to do; 1 findings left, or files rewritten; 2 usage, configuration, an
# unreadable or unwritable file, a model or server that cannot be used; 130 interrupted.
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


# How severe each rule is, as SARIF and GitHub annotations name it.
LEVELS = {"ALT001": "error", "ALT002": "warning", "ALT003": "error"}


@dataclass(frozen=True)
class Finding:
    """One image that breaks a rule, located exactly in the file.

    Lines and columns are 1-based; columns count Unicode code points. ``end_line`` and
    ``end_column`` point just past the image syntax (exclusive, as SARIF wants). ``start`` and
    ``end`` are offsets into the decoded text (BOM removed), so ``fix`` can splice there.
    ``exact`` is False when the position could not be verified; such a finding is reported at
    its block's first line and must never be edited automatically.
    """

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    rule: str
    message: str
    src: str
    alt: str | None
    element: str
    syntax: str
    start: int
    end: int
    exact: bool = True
    engine: str = "gfm"


@dataclass(frozen=True)
class FileError:
    """A file that could not be checked, with one line that says why."""

    path: str
    message: str


@dataclass(frozen=True)
class FileResult:
    path: str
    findings: tuple[Finding, ...] = ()
    error: FileError | None = None
    warnings: tuple[str, ...] = ()  # one line each: an unknown alttext directive


@dataclass(frozen=True)
class Report:
    files_checked: int
    findings: tuple[Finding, ...]
    errors: tuple[FileError, ...]
    warnings: tuple[str, ...] = ()

    @property
    def files_with_findings(self) -> int:
        return len({f.path for f in self.findings})


@dataclass(frozen=True)
class RemotePolicy:
    """What fetching a remote image may do (``alttext.fixing.remote``); ``max_image_size`` also
    caps ``data:`` URIs."""

    allow_private: bool
    timeout: float
    max_image_size: int


@dataclass(frozen=True)
class ImageSources:
    """Where an image's ``src`` may lead (``alttext.fixing.locate``)."""

    root: str
    site_root: str
    static_dirs: tuple[str, ...]
    fetch_remote: bool
    remote: RemotePolicy


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on, resolved from CLI > env > file > defaults. These are the
    defaults; ``alttext.options`` declares each option's checks, flag, meaning and heading. A
    module that needs one part takes its group (``remote``, ``images``), made once per Settings."""

    include: tuple[str, ...] = ("*.md", "*.markdown", "*.mdx", "*.html", "*.htm", "*.xhtml")
    exclude: tuple[str, ...] = ()
    respect_ignore: bool = True
    strict: bool = False
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (glob, rules)
    format: str = "text"
    quiet: bool = False
    max_file_size: int = 20 * 1024 * 1024
    languages: tuple[str, ...] = ("en",)
    jobs: int = 0
    engine: str = "auto"
    engines: tuple[tuple[str, str], ...] = ()  # (glob, engine)
    captioner_backend: str = "blip"
    captioner: str = "Salesforce/blip-image-captioning-base"
    captioner_base_url: str = ""
    captioner_model: str = ""
    ocr: str = "auto"
    captioner_precision: str = "auto"
    backend: str = "transformers"
    writer_model: str = "Qwen/Qwen3-0.6B"
    base_url: str = "http://localhost:8000/v1"
    language: str = "en"
    language_fallback: bool = False
    length: int = 0
    device: str = "auto"
    batch_size: int = 8
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 2
    grounding: str = "strict"
    quantize: str = "auto"
    cache: bool = True
    cache_dir: str = ".alttext-cache"
    site_root: str = ""
    static_dirs: tuple[str, ...] = ()
    fetch_remote: bool = False
    remote_allow_private: bool = False
    max_image_size: int = 20 * 1024 * 1024
    follow_symlinks: bool = False
    # Not options: the folder of the configuration file (or the working directory), and that file.
    root: str = "."
    config_file: str | None = None

    # A frozen dataclass still lets cached_property store its value in the instance's __dict__.
    @functools.cached_property
    def remote(self) -> RemotePolicy:
        return RemotePolicy(self.remote_allow_private, self.timeout, self.max_image_size)

    @functools.cached_property
    def images(self) -> ImageSources:
        return ImageSources(self.root, self.site_root, self.static_dirs, self.fetch_remote, self.remote)


@dataclass(frozen=True)
class Context:
    """Where the image stands on the page. Helps choose what matters; never a visual fact."""

    page_title: str = ""
    heading: str = ""
    sentence: str = ""
    figcaption: str = ""
    link_target: str = ""
    title_attribute: str = ""
    file_name: str = ""

    def items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in vars(self).items() if v.strip()]
