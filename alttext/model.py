"""The nouns of alttext. Plain frozen dataclasses, no behaviour."""

from __future__ import annotations

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
    """What fetching a remote image may do (``alttext.fixing.remote``)."""

    remote_allow_private: bool
    timeout: float
    max_image_size: int


@dataclass(frozen=True)
class ImageSources:
    """Where an image's ``src`` may lead (``alttext.fixing.locate``)."""

    root: str
    site_root: str
    static_dirs: tuple[str, ...]
    fetch_remote: bool
    max_image_size: int
    remote: RemotePolicy


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on, resolved from CLI > env > file > defaults. These are the
    defaults; ``alttext.options`` declares each option's checks, flag and meaning. A module that
    needs one part takes its group (``remote``, ``images``)."""

    include: tuple[str, ...] = ("*.md", "*.markdown", "*.mdx", "*.html", "*.htm", "*.xhtml")
    exclude: tuple[str, ...] = ()
    respect_ignore: bool = True  # leave out what .gitignore and .ignore files leave out
    strict: bool = False
    select: tuple[str, ...] = ()  # the rules to report (): ALT001 and ALT003, and ALT002 under strict
    ignore: tuple[str, ...] = ()  # rules not to report
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (glob, rules), for the files that match
    format: str = "text"
    quiet: bool = False
    max_file_size: int = 20 * 1024 * 1024
    languages: tuple[str, ...] = ("en",)
    jobs: int = 0
    engine: str = "auto"
    engines: tuple[tuple[str, str], ...] = ()  # (glob, engine), first match wins
    # The describe pipeline.
    captioner_backend: str = "blip"  # blip (in process) | openai (a vision model on an OpenAI-compatible server) | none
    captioner: str = "Salesforce/blip-image-captioning-base"  # the BLIP hub id or folder; "none" is the none backend
    captioner_base_url: str = ""  # the captioner's server; "": the writer's base_url
    captioner_model: str = ""  # the captioner server's model; "": the writer's writer_model
    ocr: str = "auto"  # auto (read text in images when the ocr extra is installed) | on | off
    captioner_precision: str = "auto"  # auto (fp16 on CUDA; bf16 vision encoder, fp32 decoder on a CPU with native bf16; else fp32) | fp32 | bf16
    backend: str = "transformers"  # transformers | openai | none
    writer_model: str = "Qwen/Qwen3-0.6B"
    base_url: str = "http://localhost:8000/v1"
    language: str = "en"  # en | zh | auto
    language_fallback: bool = False  # accept alt text in another language when none in the page's can be made
    length: int = 0  # target characters; 0: the language's default
    device: str = "auto"
    batch_size: int = 8
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 2
    grounding: str = "strict"  # strict | lenient | off
    quantize: str = "auto"  # auto | none | int8 (the transformers writer, on CPU)
    cache: bool = True
    cache_dir: str = ".alttext-cache"  # relative to the project root
    # Finding the image files (fix).
    site_root: str = ""  # where root-relative /img/a.png resolve; "" : the site's own folder
    static_dirs: tuple[str, ...] = ()  # more folders served at the site root; () : the engine's
    fetch_remote: bool = False
    remote_allow_private: bool = False  # allow loopback and private addresses for remote images
    max_image_size: int = 20 * 1024 * 1024  # bytes, for data: URIs and remote images
    # Writing: a page whose real path is outside the project (a symlink out) is left alone.
    follow_symlinks: bool = False
    root: str = "."
    config_file: str | None = None

    @property
    def remote(self) -> RemotePolicy:
        return RemotePolicy(self.remote_allow_private, self.timeout, self.max_image_size)

    @property
    def images(self) -> ImageSources:
        return ImageSources(self.root, self.site_root, self.static_dirs, self.fetch_remote, self.max_image_size, self.remote)


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
