"""Every user-facing string lives here, so tests can assert them exactly."""

from __future__ import annotations

RULES = {
    "ALT001": "image has no alt text",
    "ALT002": "image has weak alt text",
    "ALT003": "linked image needs alt text",
}

MISSING = 'image "{src}" has no alt text'
WHITESPACE = 'image "{src}" has only whitespace as alt text'
MISSING_INPUT = 'image button "{src}" has no alt text'
MISSING_AREA = 'image map area "{src}" has no alt text'
MISSING_FIGURE = 'figure shortcode "{src}" has no alt text'
LINKED = 'linked image "{src}" needs alt text: it is the only content of its link'
WEAK = 'image "{src}" has weak alt text "{alt}": {reason}'

WEAK_FILENAME = "it is the file name"
WEAK_EXTENSION = "it ends in an image file extension"
WEAK_VAGUE = "it is a vague word"
WEAK_PLACEHOLDER = "it is a placeholder"
WEAK_PREFIX = 'it starts with the redundant phrase "{prefix}"'

SUMMARY_CLEAN = "alttext: no problems found ({files} {files_word} checked)"
SUMMARY_NOTHING = "alttext: no HTML or Markdown files found in {paths}"
ERR_NOTHING = "alttext: error: no HTML or Markdown files found in {paths} (--require-files)"
SUMMARY_FINDINGS = (
    "alttext: {findings} {findings_word} in {with_findings} {with_word} ({files} {files_word} checked)"
)
SUMMARY_ERRORS = "alttext: {errors} {errors_word} could not be checked"

ERR_NOT_UTF8 = "{path}: not valid UTF-8 (byte 0x{byte:02x} at offset {offset}); convert it to UTF-8"
ERR_BINARY = "{path}: looks like a binary file (contains NUL bytes), not {kind}"
ERR_TOO_LARGE = "{path}: {size} bytes is over max_file_size ({limit} bytes); skipped"
ERR_BROKEN_LINK = "{path}: broken symbolic link"
ERR_LINK_LOOP = "{path}: symbolic link loop"
ERR_NOT_FOUND = "{path}: no such file or directory"
UNKNOWN_DIRECTIVE = '{path}:{line}:{column}: warning: unknown alttext directive "{text}" (known: alttext: ignore, alttext: decorative, alttext-disable, alttext-enable, alttext-disable-file, each with optional rule ids)'
ERR_UNREADABLE = "{path}: cannot read: {reason}"
ERR_NOT_FILE = "{path}: not a regular file"

CONFIG_ERROR = "alttext: error: {path}: {detail}"
USAGE_ERROR = "alttext: error: {detail}"
INTERRUPTED = "alttext: interrupted"
EXTRA_MISSING = "alttext: error: alttext {command} needs the {extra} extra ({module} is not installed): pip install 'alttext[{extra}]'"
UNEXPECTED = "alttext: error: unexpected {kind}{detail} (rerun with --debug for the traceback)"


def plural(n: int, word: str, many: str | None = None) -> str:
    return word if n == 1 else (many or word + "s")


def size(n: int) -> str:
    """Bytes for people: ``812 B``, ``4.1 kB``, ``3.0 MB``."""
    for unit in ("B", "kB", "MB"):
        if n < 1000 or unit == "MB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} MB"

IMG_EMPTY = "{name}: empty file, not an image"
IMG_TOO_LARGE = "{name}: {size} bytes is over the image size limit ({limit} bytes)"
IMG_UNREADABLE = "{name}: cannot read: {reason}"
IMG_UNKNOWN = "{name}: not an image format Pillow can read"
IMG_CORRUPT = "{name}: corrupt or truncated image ({reason})"
IMG_BOMB = "{name}: {width}x{height} pixels is over the limit of {limit} pixels (a decompression bomb?); not decoded"
IMG_BOMB_PIL = "{name}: refused as a decompression bomb"
IMG_SVG_ENTITIES = "{name}: SVG declares XML entities; refused (entity expansion can exhaust memory)"
IMG_SVG_INVALID = "{name}: not valid SVG: {reason}"
IMG_SVG_NO_TEXT = "{name}: SVG has no <title>, <desc> or <text> to describe it; it needs a human description"

GGUF_NEEDS = "alttext: error: cannot load the writer model {model!r}: a GGUF file needs {module}: pip install 'alttext[local]'"
MODEL_LOAD = (
    "alttext: error: cannot load the {role} model {model!r}: {reason}. Download it ahead of time "
    "(alttext models pull, or hf download {model}) or set {key} = \"/path/to/local/folder\" in [tool.alttext]"
)
MODEL_NOT_DOWNLOADED = (
    "alttext: error: the {role} model {model!r} is not on this machine and the hub cannot be reached: run alttext models pull "
    "(or hf download {model}) where there is a network, or set {key} = \"/path/to/local/folder\""
)
MODEL_MISSING_PATH = "alttext: error: the {role} model {model!r} was not found (no such file or folder); set {key} to a model folder or a hub id"
MODEL_LOADING = "loading the {role} {model}"
MODELS_ROW = "{role:<10} {model}  {where}"
MODELS_ABSENT = "not downloaded (alttext models pull)"
MODELS_PULLING = "downloading the {role} {model}"
MODELS_OFFLINE = "alttext: error: the hub cannot be reached (or HF_HUB_OFFLINE is set): alttext models pull needs a network"

WRITER_CONNECT = "alttext: error: cannot connect to {base_url}: is the server running? ({reason})"
WRITER_DROPPED = "alttext: error: {base_url} closed the connection without answering: did the server stop or crash? ({reason})"
WRITER_TIMEOUT = "alttext: error: {base_url} did not answer within {timeout:g} s; raise `timeout` or lower `concurrency`"
WRITER_UNAUTHORIZED = "alttext: error: {base_url} refused the API key (401); set ALTTEXT_API_KEY or OPENAI_API_KEY"
WRITER_NOT_FOUND = "alttext: error: {url} was not found (404); give the server's OpenAI base URL, which usually ends in /v1"
WRITER_UNKNOWN_MODEL = "alttext: error: {base_url} has no model {model!r}; it offers: {models}"
WRITER_FAILED = "alttext: error: {base_url} failed: {reason}"

FIX_REWRITING = "Rewriting {path}"
FIX_WOULD_REWRITE = "Would rewrite {path}"
FIX_ADDED = '{path}:{line}:{column}: alt text added for {src}: "{alt}"'
FIX_PROPOSED = '{path}:{line}:{column}: proposed alt text for {src}: "{alt}"'
FIX_REVIEW = "{path}:{line}:{column}: needs review: {why}"
FIX_NOT_FIXED = "{path}:{line}:{column}: {rule} {message} (not fixed: {reason})"
FIX_UNVERIFIED = "{path}: the edited text did not verify ({reason}); file left unchanged"
FIX_CHANGED = "{path}: changed on disk since it was read; not written (run again)"
FIX_UNWRITABLE = "{path}: cannot write: {reason}"
FIX_REFUSED = "{path}: not written: {reason}"
FIX_LEFT_UNCHANGED = "the file was left unchanged"  # why an image is not fixed, after its file's problem
FIX_NOT_WRITTEN = "the file was not written"
FIX_REPAIRED = "the pipeline repaired the text"  # why a text needs review, when nothing more precise is known
FIX_SUMMARY = "alttext: {fixed} {fixed_word} fixed in {files} {files_word}, {left} left"
FIX_WOULD_SUMMARY = "alttext: would fix {fixed} {fixed_word} in {files} {files_word}, {left} left"
APPLY_STILL = "alttext: {count} {images} in {files} {files_word} still {lack} alt text"
APPLY_WOULD_STILL = "alttext: {count} {images} in {files} {files_word} would still lack alt text"
REPORT_WRITTEN = "alttext: {entries} {entries_word} written to {path}; no source file changed"
REPORT_FORMAT = "{path}: unknown report format; use .json, .csv or .md"
FIX_DECORATIVE = "{path}:{line}:{column}: {src}: marked decorative"
FIX_WOULD_DECORATIVE = "{path}:{line}:{column}: {src}: would be marked decorative"
REVIEW_SERVING = "alttext: reviewing at {url} (Ctrl-C stops; every decision is saved at once)"
REVIEW_EXPORTED = "alttext: {entries} entries written to {path}: open it in a browser; its button downloads the reviewed report for alttext apply"
REVIEW_UNWRITABLE = "alttext: error: {path}: cannot be written: {reason}"
REVIEW_NO_TOKEN = "a request without this session's token"
REVIEW_BAD_DECISION = "unknown decision {decision!r}: accepted, decorative, skipped or empty"
REVIEW_NO_DECISION = "a decision needs its review field (accepted, decorative, skipped, or empty to undo)"
REVIEW_NO_ENTRY = "no entry {index}"
REVIEW_ALT_NOT_TEXT = "alt is not text"
REVIEW_CHANGED = "{path} changed on disk since it was read; nothing saved (run alttext review again)"
REVIEW_NOT_SAVED = "{path}: not saved: {reason}"
REVIEW_EDITOR = "alttext: error: --editor-url {template!r} is not a link template: use {{path}}, {{line}} and {{column}}"
REVIEW_JSON = "alttext: error: {path}: review reads a .json report (alttext fix --report FILE.json)"
REVIEW_PORT = "alttext: error: cannot listen on 127.0.0.1:{port}: {reason}"
APPLY_SKIPPED = "{path}:{line}:{column}: skipped: {reason}"
APPLY_BAD = "{path}: not an alttext report: {reason}"

CACHE_LOCKED = "alttext: warning: cache {path} is locked by another process; running without it"
CACHE_UNUSABLE = "alttext: warning: cache {path} cannot be used ({reason}); running without it"
CACHE_CORRUPT = "alttext: warning: cache {path} was corrupt ({reason}); moved it to {aside} and started a new one"
CACHE_STATS = "{path}: {entries} {entries_word} for {images} {images_word}, {size}"
CACHE_CLEARED = "alttext: cleared {path} ({entries} {entries_word})"
CACHE_NONE = "{path}: no cache"

EVAL_BAD_ITEM = "{path}:{line}: {detail}"
EVAL_NOT_JSON = "{path}:{line}: not valid JSON: {detail} (column {column})"
EVAL_DUPLICATE = '{path}:{line}: duplicate id "{id}" (first on line {first})'
EVAL_EMPTY = "{path}: no items"
EVAL_NOT_REPORT = "{path}: not an alttext eval report (make one with alttext eval --format json)"
EVAL_USAGE = "give a DATASET, or --compare A.json B.json"

WATCH_STARTED = "alttext: watching {paths} ({mode}); Ctrl-C stops"
WATCH_ADDED = '{path}:{line}:{column}: alt text added for {src}: "{alt}"'
WATCH_REFRESHED = '{path}:{line}:{column}: alt text refreshed for {src} (the image changed): "{alt}"'
WATCH_PROPOSED = '{path}:{line}:{column}: proposed alt text for {src}: "{alt}"'
WATCH_NOT_FIXED = "{path}:{line}:{column}: {rule} {message} (not fixed: {reason})"
WATCH_CHANGED = "{path}: changed while its images were described; not written (it is read again after this save)"
WATCH_FAILED = "{path}: {reason}"
WATCH_BUSY = "{path}: open for writing in another program; not written (it is read again once closed)"
WATCH_STALE = 'image "{src}" changed since alttext wrote its alt text'

OCR_MISSING = "alttext: error: reading text in images needs the ocr extra ({module} is not installed): pip install 'alttext[ocr]', or set ocr = \"off\""
OCR_BROKEN = "alttext: error: the OCR engine could not be loaded ({reason}); reinstall it with pip install --force-reinstall 'alttext[ocr]', or set ocr = \"off\""
OCR_FAILED = "the text in the picture could not be read ({reason})"
OCR_OFF = "alttext: note: text in images is not read (the OCR engine is not installed): pip install 'alttext[ocr]'"

DECORATIVE = 'probably decorative ({why}): if it is, give it alt="" (in Markdown, put <!-- alttext: decorative --> before it)'
NO_EVIDENCE = "nothing in the picture or its file says what it shows; it needs a person's description"
NO_TEXT_IN_LANGUAGE = "no acceptable Chinese alt text could be written (the caption is English); set language_fallback = true to accept English"
OTHER_LANGUAGE = "written in {language}: no acceptable text in the page's language could be made"
LONG_DESCRIPTION = "this {kind} holds more than an alt text can: give it a long description (a caption, a table or a linked page)"
NOT_IN_LANGUAGE = {"en": "not written in English", "zh": "not written in Chinese"}
UNTRANSLATED = "English words left untranslated"

# inputs (#24)
WRITER_MALFORMED = "alttext: error: {base_url} sent a malformed chat completion: {reason}"
IMG_NOT_FILE = "{name}: not a regular file ({kind}); not read"
ERR_WIDE_ENCODING = "{path}: {encoding} text, not UTF-8; convert it to UTF-8"
CACHE_READ_ONLY = "alttext: warning: cache {path} is read-only ({reason}); using what it holds without saving new descriptions"

# scanner gaps (#24)
TOO_DEEP = "{path}:{line}:{column}: blocks nested more than {limit} deep; the images inside are not checked"
LOCATE_SCRIPT_URL = "a {scheme}: URL is a script, not an image; refused"
LOCATE_FILE_URL = "a file: URL names a file on one computer, not in the site; use a path relative to the page"

# captioner backends (#25)
CAPTIONER_NO_IMAGES = (
    "alttext: error: the model {model!r} on {base_url} does not accept images; set captioner_model to a vision model "
    "the server runs (Qwen2.5-VL, qwen2.5vl, llava, moondream; llama.cpp needs --mmproj)"
)
CAPTIONER_SVG = "{name}: an SVG is not sent to the captioner: alttext describes it from its own <title>, <desc> and <text>"
CAPTIONER_NOT_IMAGE = "{name}: not a picture the captioner can send ({kind}); give a PIL image or an image file"
MODELS_ON_SERVER = "on the server {base_url}"

# fast path (#25)
FAST_PATH_OFF = (
    "alttext: warning: {internals}: missing or not behaving as expected in torch {torch} / transformers {transformers}; "
    "the {role} uses the public path there instead (slower, same results)"
)
INT8_NEEDS = "alttext: error: quantize = \"int8\" needs torchao: pip install 'alttext[int8]', or set quantize = \"none\""
