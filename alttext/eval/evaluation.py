"""``alttext eval``: measure alt text against a dataset instead of guessing.

A dataset is JSON Lines, one picture per line (docs/eval.md documents the fields). Each item is
described by the real pipeline (or, with ``from_caption``, by the writer stage alone, from the
item's caption) and scored with the three checks editors of image descriptions use:

- key element recall (KER): the share of the item's key elements the alt text mentions; an item
  passes at ``PASS_KER``;
- rules: the prompt's lint (metaphors, subjective words, names, dates, measurements, stock
  openings) finds nothing, and the length is within the budget;
- grounding: the share of the alt text's content words that appear in no evidence the pipeline
  gathered (captions, visible text, metadata, kind, colours), nor in the page context or the
  references: a proxy for invented details (lower is better);
- kind: where an item is labelled with its kind, whether the pipeline took it for that kind.

Reports are JSON (``--format json``) or a table; ``compare`` reads two JSON reports and says which
items got better or worse.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from alttext import messages
from alttext.eval.metrics import PASS_KER, Element, invented, key_element_recall
from alttext.model import Context, Settings
from alttext.pipeline import clean as cleaning
from alttext.pipeline.backends import captioner_backend, captioner_label, writer_label, writer_quantization
from alttext.pipeline.describe import describe
from alttext.pipeline.evidence import fact_value
from alttext.pipeline.evidence.kind import KINDS
from alttext.pipeline.judge import Judge
from alttext.pipeline.prompt import LANGUAGES, PROMPT_VERSION, fixed_text
from alttext.pipeline.records import Description

REPORT_VERSION = 2
FIELDS = ("id", "image", "caption", "details", "language", "kind", "key_elements", "references", "context")
_LENGTH_RULES = ("too-long", "too-short")


class DatasetError(Exception):
    """A dataset or report that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Item:
    id: str
    language: str
    key_elements: tuple[Element, ...]
    image: str = ""  # absolute path ('' when the item has none)
    caption: str = ""  # the base caption, for from_caption
    details: tuple[str, ...] = ()  # more evidence with the caption (from_caption only)
    references: tuple[str, ...] = ()  # other people's descriptions of the picture
    context: Context = Context()
    kind: str = ""  # the kind of image it is, where labelled (photo, screenshot, chart, ...)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _element(value: Any) -> Element | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    return None


def _item(raw: Any, folder: str, default_language: str, from_caption: bool) -> Item:
    """One dataset line as an Item; ``ValueError`` says what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError("each line must be a JSON object")
    unknown = [k for k in raw if k not in FIELDS]
    if unknown:
        raise ValueError(f'unknown field "{unknown[0]}" (fields: {", ".join(FIELDS)})')
    ident = raw.get("id")
    if not isinstance(ident, str) or not ident.strip():
        raise ValueError('"id" must be a non-empty string')
    kind = raw.get("kind", "")
    if kind and kind not in KINDS:
        raise ValueError(f'"kind" must be one of {", ".join(KINDS)}, not {kind!r}')
    elements = raw.get("key_elements")
    if not isinstance(elements, list) or not (elements or kind):
        raise ValueError('"key_elements" must be a non-empty list (or empty, for an item labelled with its kind)')
    parsed = [_element(e) for e in elements]
    if None in parsed:
        raise ValueError('each key element must be a word or phrase, or a non-empty list of synonyms')
    language = raw.get("language", default_language)
    if language not in LANGUAGES:
        raise ValueError(f'"language" must be one of {", ".join(LANGUAGES)}, not {language!r}')
    for name in ("references", "details"):
        if name in raw and not _strings(raw[name]):
            raise ValueError(f'"{name}" must be a list of strings')
    context = raw.get("context", {})
    known = [f.name for f in dataclasses.fields(Context)]
    if not isinstance(context, dict) or not all(isinstance(v, str) for v in context.values()):
        raise ValueError('"context" must be an object of strings')
    if any(k not in known for k in context):
        raise ValueError(f'unknown context field "{next(k for k in context if k not in known)}" (fields: {", ".join(known)})')
    for name in ("image", "caption"):
        if name in raw and not isinstance(raw[name], str):
            raise ValueError(f'"{name}" must be a string')
    caption = raw.get("caption", "")
    image = raw.get("image", "")
    if from_caption and not caption.strip():
        raise ValueError('"caption" is needed with --from-caption')
    if not from_caption and not image:
        raise ValueError('"image" is needed (or run with --from-caption)')
    if image:  # with --from-caption, the picture still gives its other evidence (text, kind, metadata)
        image = os.path.normpath(os.path.join(folder, image))
        if not os.path.isfile(image):
            raise ValueError(f"image not found: {raw['image']}")
    if image and "file_name" not in context:
        context = {**context, "file_name": os.path.basename(image)}  # as a page gives it
    return Item(
        id=ident, language=language, key_elements=tuple(parsed),  # type: ignore[arg-type]
        image=image, caption=caption, details=tuple(raw.get("details", ())),
        references=tuple(raw.get("references", ())), context=Context(**context), kind=kind,
    )


def load_dataset(path: str, settings: Settings, from_caption: bool = False) -> list[Item]:
    """The dataset's items; ``DatasetError`` names the file and line of the first problem."""
    default_language = settings.language if settings.language in LANGUAGES else "en"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DatasetError(messages.ERR_UNREADABLE.format(path=path, reason=exc.strerror or exc)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(messages.ERR_NOT_UTF8.format(path=path, byte=data[exc.start], offset=exc.start)) from None
    folder = os.path.dirname(os.path.abspath(path))
    items: list[Item] = []
    first: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(messages.EVAL_NOT_JSON.format(path=path, line=number, detail=exc.msg, column=exc.colno)) from None
        try:
            item = _item(raw, folder, default_language, from_caption)
        except ValueError as exc:
            raise DatasetError(messages.EVAL_BAD_ITEM.format(path=path, line=number, detail=exc)) from None
        if item.id in first:
            raise DatasetError(messages.EVAL_DUPLICATE.format(path=path, line=number, id=item.id, first=first[item.id]))
        first[item.id] = number
        items.append(item)
    if not items:
        raise DatasetError(messages.EVAL_EMPTY.format(path=path))
    return items


@dataclass(frozen=True)
class Score:
    id: str
    language: str
    text: str
    caption: str
    ker: float
    missing: tuple[str, ...]  # key elements the text does not mention
    rules: tuple[str, ...]  # lint findings, length aside
    length: int
    minimum: int
    maximum: int
    invented: tuple[str, ...]  # content words no evidence supports
    content: int  # content words in the text
    needs_review: bool = False
    error: str | None = None
    kind: str = ""  # what the pipeline took the picture for
    expected_kind: str = ""  # the item's label, if any
    evidence: tuple[str, ...] = ()  # the facts the text was written from
    rejected: tuple[str, ...] = ()  # writer answers that were not used
    echoes: int = 0  # writer answers that copied the prompt's instructions or examples
    echoed: bool = False  # the final text itself copies them
    reason: str | None = None  # why there is no text
    elements: int = 0  # key elements the item has (KER is averaged over items that have some)

    @property
    def passed(self) -> bool:
        return self.ker >= PASS_KER

    @property
    def compliant(self) -> bool:
        return not self.rules

    @property
    def within(self) -> bool:
        return self.minimum <= self.length <= self.maximum

    @property
    def invented_share(self) -> float:
        return len(self.invented) / self.content if self.content else 0.0

    @property
    def kind_right(self) -> bool | None:
        return self.kind == self.expected_kind if self.expected_kind else None

    def as_dict(self) -> dict[str, Any]:
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}
        out.update(passed=self.passed, compliant=self.compliant, within=self.within, invented_share=round(self.invented_share, 4),
                   kind_right=self.kind_right)
        return out


def _label(element: Element) -> str:
    return element if isinstance(element, str) else "/".join(element)


def score(item: Item, text: str, caption: str, settings: Settings, needs_review: bool = False, error: str | None = None,
          described: Description | None = None) -> Score:
    """How ``text`` (the alt text made for ``item`` from ``caption``) measures up. ``described``:
    the pipeline's description, whose evidence supports words and sets the lower length bound."""
    evidence = list(described.evidence) if described is not None else []
    b = Judge.from_settings(settings).budget(item.language)
    if described is not None and described.bounds:  # the bounds the pipeline held the text to
        b = replace(b, minimum=described.bounds[0], maximum=described.bounds[1])
    context = [value for _, value in item.context.items()]
    given = "\n".join([caption, *item.details, *context, *evidence])
    findings = cleaning.lint(text, item.language, b.minimum, b.maximum, given) if text else []
    made_up = invented(text, [caption, *item.details, *context, *item.references, *evidence])
    answers = [cleaning.clean(a, item.language) for a in (described.rejected if described is not None else ())]
    kind = described.kind if described is not None else ""
    fixed = fixed_text(kind, item.language)
    own = "\n".join([caption, *item.details, *context, *map(fact_value, evidence)])
    return Score(
        id=item.id, language=item.language, text=text, caption=caption,
        ker=key_element_recall(text, item.key_elements),
        missing=tuple(_label(e) for e in item.key_elements if key_element_recall(text, [e]) < 1),
        rules=tuple(str(f) for f in findings if f.rule not in _LENGTH_RULES),
        length=len(text), minimum=b.minimum, maximum=b.maximum,
        invented=made_up.words, content=made_up.content, needs_review=needs_review, error=error,
        kind=kind, expected_kind=item.kind, evidence=tuple(evidence),
        rejected=tuple(described.rejected) if described is not None else (),
        echoes=sum(cleaning.echo(a, fixed, own, item.language) is not None for a in [*answers, text] if a),
        echoed=bool(text) and cleaning.echo(text, fixed, own, item.language) is not None,
        reason=described.reason if described is not None else None, elements=len(item.key_elements),
    )


def evaluate(items: Sequence[Item], settings: Settings, *, from_caption: bool = False, captioner: Any = None,
             writer: Any = None, reader: Any = "settings", progress: Any = None) -> list[Score]:
    """Describe every item with the pipeline ``settings`` name and score it. No cache is used:
    an evaluation measures the pipeline as it is now."""
    settings = dataclasses.replace(settings, cache=False)
    captions = [(item.caption, *item.details) for item in items] if from_caption else None
    # Each item's own language decides: its key elements are in it.
    results = describe([item.image for item in items], [item.context for item in items], dataclasses.replace(settings, language="auto"),
                       page_languages=[item.language for item in items], captions=captions, captioner=captioner, writer=writer,
                       progress=progress, **({"reader": reader} if reader != "settings" else {}))
    return [score(item, d.text, d.caption, settings, d.needs_review, d.error, d) for item, d in zip(items, results)]


def summary(scores: Sequence[Score]) -> dict[str, Any]:
    """Averages over the items that could be described (the ones with an error are counted apart)."""
    done = [s for s in scores if s.error is None]
    n = len(done)
    measured = [s for s in done if s.elements]  # KER needs key elements
    labelled = [s for s in done if s.expected_kind]

    def share(values: Sequence[bool | float], over: int | None = None) -> float | None:
        total = n if over is None else over
        return round(sum(values) / total, 4) if total else None

    return {
        "items": len(scores),
        "errors": len(scores) - n,
        "ker": share([s.ker for s in measured], len(measured)),
        "ker_pass": share([s.passed for s in measured], len(measured)),
        "compliant": share([s.compliant for s in done]),
        "within_length": share([s.within for s in done]),
        "invented": share([s.invented_share for s in done]),
        "needs_review": share([s.needs_review for s in done]),
        "no_text": sum(not s.text for s in done),
        "echoes": sum(s.echoes for s in done),
        "echoed": sum(s.echoed for s in done),
        "kind": share([s.kind_right for s in labelled], len(labelled)),
    }


def report(scores: Sequence[Score], settings: Settings, dataset: str, from_caption: bool) -> dict[str, Any]:
    """The JSON report: what ran, the averages and every item."""
    return {
        "alttext_eval": REPORT_VERSION,
        "dataset": dataset,
        "settings": {
            "backend": settings.backend,
            "writer_model": writer_label(settings),
            "captioner_backend": "(given)" if from_caption else captioner_backend(settings),
            "captioner": "(given)" if from_caption else captioner_label(settings),
            "ocr": settings.ocr,
            "from_caption": from_caption,
            "prompt_version": PROMPT_VERSION,
            "length": settings.length,
            "grounding": settings.grounding,
            "quantize": writer_quantization(settings),
            "captioner_precision": settings.captioner_precision,
        },
        "summary": summary(scores),
        "items": [s.as_dict() for s in scores],
    }


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render(data: dict[str, Any]) -> str:
    """The report as a table: a row per item with its alt text, evidence and rejected answers under
    it, then the averages."""
    items = data["items"]
    width = max([len("item"), *(len(i["id"]) for i in items)])
    lines = [f"{'item':{width}}  lang  kind         KER   rules       length   invented"]
    pad = " " * width
    for i in items:
        if i["error"]:
            lines += [f"{i['id']:{width}}  {i['language']:4}  error: {i['error']}"]
            continue
        rules = "ok" if i["compliant"] else ",".join(dict.fromkeys(r.split(":")[0] for r in i["rules"]))
        length = f"{i['length']}" + ("" if i["within"] else (" long" if i["length"] > i["maximum"] else " short"))
        made_up = f"{i['invented_share']:.0%}" + (f" ({', '.join(i['invented'][:4])})" if i["invented"] else "")
        ker = "-" if not i.get("elements", 1) else f"{i['ker']:.2f}" + ("" if i["passed"] else "*")
        kind = (i.get("kind") or "-") + ("" if i.get("kind_right") in (None, True) else f"≠{i['expected_kind']}")
        lines.append(f"{i['id']:{width}}  {i['language']:4}  {kind:12} {ker:5} {rules:11} {length:8} {made_up}")
        lines.append(f"{pad}  {i['text'] or '(no alt text: ' + (i.get('reason') or 'none') + ')'}")
        if i["missing"]:
            lines.append(f"{pad}  missing: {', '.join(i['missing'])}")
        if i.get("evidence"):
            lines.append(f"{pad}  evidence: {' | '.join(i['evidence'])}")
        for answer in i.get("rejected", []):
            lines.append(f"{pad}  rejected: {' '.join(answer.split())}")
    s, run = data["summary"], data["settings"]
    writer = run["writer_model"] or "none (composed from the evidence)"
    lines += [
        "",
        f"{s['items']} {messages.plural(s['items'], 'item')}, writer {writer}, captioner {run['captioner']}, prompt {run['prompt_version']}"
        + (f"; {s['errors']} could not be described" if s["errors"] else ""),
        f"  KER           {'-' if s['ker'] is None else format(s['ker'], '.3f')} mean; "
        f"{_percent(s['ker_pass'])} of items pass (KER >= {PASS_KER}; * marks the ones that do not)",
        f"  rules         {_percent(s['compliant'])} of items break no rule",
        f"  length        {_percent(s['within_length'])} of items within their length budget",
        f"  invented      {_percent(s['invented'])} of content words per item, on average (lower is better)",
        f"  needs review  {_percent(s['needs_review'])} of items; {s.get('no_text', 0)} without alt text",
        f"  prompt echo   {s.get('echoes', 0)} writer answers copied the instructions or examples; {s.get('echoed', 0)} alt texts do",
    ]
    if s.get("kind") is not None:
        lines.append(f"  kind          {_percent(s['kind'])} of labelled items taken for their kind")
    return "\n".join(lines) + "\n"


def load_report(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise DatasetError(messages.ERR_UNREADABLE.format(path=path, reason=exc.strerror or exc)) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DatasetError(messages.EVAL_NOT_REPORT.format(path=path)) from None
    if not isinstance(data, dict) or data.get("alttext_eval") != REPORT_VERSION or not isinstance(data.get("items"), list):
        raise DatasetError(messages.EVAL_NOT_REPORT.format(path=path))
    return data


# How each measure moves: higher KER is better; a rule or length finding fixed is better; fewer
# invented words is better.
_MEASURES = (
    ("KER", lambda i: i["ker"], 1),
    ("rules", lambda i: i["compliant"], 1),
    ("length", lambda i: i["within"], 1),
    ("invented", lambda i: i["invented_share"], -1),
)
_EPSILON = 1e-9


def _show(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "ok" if value else "broken"
    return f"{value:.0%}" if name == "invented" else f"{value:.2f}"


def compare(a: dict[str, Any], b: dict[str, Any], a_name: str, b_name: str) -> tuple[str, int]:
    """Which items got better or worse from report ``a`` to ``b``: the text, and how many items got
    worse in some measure (worse or mixed)."""
    before = {i["id"]: i for i in a["items"]}
    after = {i["id"]: i for i in b["items"]}
    lines = [f"{a_name} -> {b_name}"]
    counts = {"better": 0, "worse": 0, "mixed": 0, "same": 0}
    for ident in [k for k in before if k in after]:
        x, y = before[ident], after[ident]
        if x["error"] or y["error"]:
            verdict = "worse" if y["error"] and not x["error"] else ("better" if x["error"] and not y["error"] else "same")
            changes = [f"error: {y['error'] or x['error']}"]
        else:
            up, down, changes = False, False, []
            for name, get, sign in _MEASURES:
                delta = (float(get(y)) - float(get(x))) * sign
                if abs(delta) > _EPSILON:
                    up, down = up or delta > 0, down or delta < 0
                    changes.append(f"{name} {_show(name, get(x))} -> {_show(name, get(y))}")
            verdict = "mixed" if up and down else "better" if up else "worse" if down else "same"
        counts[verdict] += 1
        if verdict != "same":
            lines.append(f"  {verdict:6} {ident}: {'; '.join(changes)}")
    lines += [f"  only in {a_name}: {ident}" for ident in before if ident not in after]
    lines += [f"  only in {b_name}: {ident}" for ident in after if ident not in before]
    sa, sb = a["summary"], b["summary"]
    means = []
    for key, label in (("ker", "KER"), ("ker_pass", "pass"), ("compliant", "rules"), ("within_length", "length"), ("invented", "invented")):
        if sa.get(key) is not None and sb.get(key) is not None:
            means.append(f"{label} {sa[key]:.3f} -> {sb[key]:.3f}" if key == "ker" else f"{label} {_percent(sa[key])} -> {_percent(sb[key])}")
    lines.append(f"{counts['better']} better, {counts['worse']} worse, {counts['mixed']} mixed, {counts['same']} unchanged; " + ", ".join(means))
    return "\n".join(lines) + "\n", counts["worse"] + counts["mixed"]
