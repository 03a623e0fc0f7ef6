from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

import pytest

from alttext.cli import main
from alttext.eval.evaluation import DatasetError, Item, Score, compare, evaluate, load_dataset, render, report, score, summary
from alttext.model import Context, Settings
from alttext.pipeline.backends import CaptionerBase, WriterBase
from tests.conftest import FIXTURES, QWEN3

DATASET = os.path.join(FIXTURES, "eval", "dataset.jsonl")

CIRCLE = Item(id="circle", language="en", key_elements=("red", ("circle", "dot"), "white"),
              caption="a red circle on a white background", references=("a red dot in the middle of a white square",))
CIRCLE_ZH = Item(id="circle-zh", language="zh", key_elements=("红", ("圆", "圆形"), "白"),
                 caption="a red circle on a white background", references=("白色背景上有一个红色圆形", "白色正方形中间有一个红色的圆点"))


@pytest.mark.parametrize(
    ("item", "text", "ker", "missing", "rules", "invented", "content"),
    [
        pytest.param(CIRCLE, "A red circle on a white background.", 1.0, (), (), (), 4, id="en-faithful"),
        pytest.param(CIRCLE, "A red dot sits in the middle of a white square.", 1.0, (), (), ("sits",), 6, id="en-reference-supports"),
        pytest.param(CIRCLE, "A beautiful red circle sits on a white Apple poster, like a sun.", 1.0, (),
                     ("metaphor: like a", "subjective: beautiful", "name: Apple"), ("beautiful", "sits", "apple", "poster", "like", "sun"), 9,
                     id="en-broken-rules-and-inventions"),
        pytest.param(CIRCLE, "A red circle. It is 5 cm wide.", 2 / 3, ("white",), ("measurement: 5 cm",), ("cm", "wide"), 4, id="en-measurement"),
        pytest.param(CIRCLE, "", 0.0, ("red", "circle/dot", "white"), (), (), 0, id="en-empty"),
        pytest.param(CIRCLE_ZH, "白色背景上有一个红色圆形。", 1.0, (), (), (), 4, id="zh-faithful"),
        pytest.param(CIRCLE_ZH, "白色背景上有一个美丽的红色圆形，像太阳。", 1.0, (), ("metaphor: 像", "subjective: 美丽"), ("美丽", "像", "太阳"), 7,
                     id="zh-broken-rules-and-inventions"),
        pytest.param(CIRCLE_ZH, "一辆蓝色汽车在2019年。", 0.0, ("红", "圆/圆形", "白"), ("date: 2019年",), ("2019", "蓝色", "汽车", "年"), 4, id="zh-wrong-picture"),
        pytest.param(CIRCLE_ZH, "桌上有一个红色圆形和一部iPhone。", 2 / 3, ("白",), ("name: iPhone",), ("iphone", "桌", "部"), 5, id="zh-latin-name"),
    ],
)
def test_score(item: Item, text: str, ker: float, missing: tuple[str, ...], rules: tuple[str, ...], invented: tuple[str, ...], content: int) -> None:
    s = score(item, text, item.caption, Settings())
    assert s.ker == pytest.approx(ker) and s.missing == missing and s.rules == rules
    assert (s.invented, s.content) == (invented, content)
    assert s.compliant == (not rules) and s.passed == (ker >= 0.83)


def test_length_budget_follows_the_language_and_the_setting() -> None:
    text = "A red circle on a white background."  # 35 characters
    assert not score(CIRCLE, text, CIRCLE.caption, Settings()).within  # English: 62 to 188
    assert score(CIRCLE, text, CIRCLE.caption, Settings(length=40)).within  # 20 to 60
    zh = score(CIRCLE_ZH, "白色背景上有一个红色圆形，圆形位于画面的正中间，四周都是白色。", CIRCLE_ZH.caption, Settings())
    assert (zh.minimum, zh.maximum, zh.within) == (30, 90, True)
    long = score(CIRCLE, "A red circle on a white background. " * 6, CIRCLE.caption, Settings())
    assert not long.within and long.rules == ()  # length is measured apart from the rules


def test_names_the_page_gives_are_allowed() -> None:
    item = dataclasses.replace(CIRCLE, context=Context(heading="The Acme logo"))
    assert score(item, "A red Acme circle on white.", item.caption, Settings()).rules == ()
    assert score(CIRCLE, "A red Acme circle on white.", CIRCLE.caption, Settings()).rules == ("name: Acme",)


def _score(ident: str, ker: float, rules: tuple[str, ...] = (), length: int = 100, invented: tuple[str, ...] = (), content: int = 4,
           error: str | None = None) -> Score:
    return Score(id=ident, language="en", text="x" * length, caption="c", ker=ker, missing=(), rules=rules, length=length,
                 minimum=62, maximum=188, invented=invented, content=content, error=error, elements=3)


def test_summary_averages_the_items_that_were_described() -> None:
    scores = [_score("a", 1.0), _score("b", 0.5, rules=("subjective: nice",), invented=("nice",)), _score("c", 0.0, length=10),
              _score("d", 0.0, error="d.png: empty file, not an image")]
    assert summary(scores) == {"items": 4, "errors": 1, "ker": 0.5, "ker_pass": 0.3333, "compliant": 0.6667, "within_length": 0.6667,
                               "invented": 0.0833, "needs_review": 0.0, "no_text": 0, "echoes": 0, "echoed": 0, "kind": None}
    # KER is averaged over the items that have key elements; kind over the items labelled with one.
    labelled = [dataclasses.replace(_score("e", 1.0), elements=0, kind="chart", expected_kind="chart"),
                dataclasses.replace(_score("f", 0.0), kind="photo", expected_kind="chart")]
    assert (summary(labelled)["ker"], summary(labelled)["kind"]) == (0.0, 0.5)
    assert summary([_score("d", 0.0, error="broken")])["ker"] is None


def test_fixture_dataset_loads() -> None:
    items = load_dataset(DATASET, Settings())
    assert len(items) == 10 and len({i.id for i in items}) == 10
    assert {i.language for i in items} == {"en", "zh"}
    assert all(os.path.isfile(i.image) and i.caption and len(i.references) >= 3 for i in items)
    # The image's file name is part of its context, as a page gives it.
    assert items[2].context == Context(heading="Quarterly sales", sentence="Sales grew in each of the three quarters.", file_name="bar-chart.png")


def test_fixture_images_are_drawn_by_the_script(tmp_path: os.PathLike[str]) -> None:
    import importlib.util

    from PIL import Image

    spec = importlib.util.spec_from_file_location("make_images", os.path.join(FIXTURES, "eval", "make_images.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(tmp_path)]) == 0
    names = sorted(os.listdir(os.path.join(FIXTURES, "eval", "images")))
    assert names == sorted(os.listdir(str(tmp_path))) and len(names) == 7
    for name in names:
        with Image.open(os.path.join(FIXTURES, "eval", "images", name)) as shipped, Image.open(os.path.join(str(tmp_path), name)) as drawn:
            assert shipped.convert("RGB").tobytes() == drawn.convert("RGB").tobytes(), name


GOOD = '{"id": "a", "image": "a.png", "caption": "a dog", "key_elements": ["dog"]}'


@pytest.mark.parametrize(
    ("lines", "from_caption", "message"),
    [
        pytest.param([GOOD, "{oops"], False, "data.jsonl:2: not valid JSON: Expecting property name enclosed in double quotes (column 2)", id="json"),
        pytest.param(["[1, 2]"], False, "data.jsonl:1: each line must be a JSON object", id="not-an-object"),
        pytest.param(['{"id": "a", "image": "a.png", "key_elements": ["dog"], "colour": "red"}'], False,
                     'data.jsonl:1: unknown field "colour" (fields: id, image, caption, details, language, kind, key_elements, references, context)',
                     id="unknown-field"),
        pytest.param(['{"image": "a.png", "key_elements": ["dog"]}'], False, 'data.jsonl:1: "id" must be a non-empty string', id="no-id"),
        pytest.param(['{"id": "a", "image": "a.png", "key_elements": []}'], False,
                     'data.jsonl:1: "key_elements" must be a non-empty list (or empty, for an item labelled with its kind)', id="no-elements"),
        pytest.param(['{"id": "a", "image": "a.png", "key_elements": [], "kind": "poster"}'], False,
                     "data.jsonl:1: \"kind\" must be one of photo, screenshot, chart, diagram, text, logo, illustration, decorative, not 'poster'",
                     id="kind"),
        pytest.param(['{"id": "a", "image": "a.png", "key_elements": ["dog", []]}'], False,
                     "data.jsonl:1: each key element must be a word or phrase, or a non-empty list of synonyms", id="bad-element"),
        pytest.param(['{"id": "a", "image": "a.png", "key_elements": ["dog"], "language": "fr"}'], False,
                     "data.jsonl:1: \"language\" must be one of en, zh, not 'fr'", id="language"),
        pytest.param(['{"id": "a", "image": "a.png", "key_elements": ["dog"], "references": "a dog"}'], False,
                     'data.jsonl:1: "references" must be a list of strings', id="references"),
        pytest.param(['{"id": "a", "image": "a.png", "key_elements": ["dog"], "context": {"alt": "x"}}'], False,
                     'data.jsonl:1: unknown context field "alt" (fields: page_title, heading, sentence, figcaption, link_target, title_attribute, file_name)',
                     id="context"),
        pytest.param([GOOD, GOOD], False, 'data.jsonl:2: duplicate id "a" (first on line 1)', id="duplicate"),
        pytest.param(['{"id": "b", "image": "b.png", "key_elements": ["dog"]}'], False, "data.jsonl:1: image not found: b.png", id="no-image-file"),
        pytest.param(['{"id": "b", "key_elements": ["dog"]}'], False, 'data.jsonl:1: "image" is needed (or run with --from-caption)', id="no-image"),
        pytest.param(['{"id": "b", "key_elements": ["dog"]}'], True, 'data.jsonl:1: "caption" is needed with --from-caption', id="no-caption"),
        pytest.param(["", "  "], False, "data.jsonl: no items", id="empty"),
    ],
)
def test_bad_datasets_name_the_line(lines: list[str], from_caption: bool, message: str, tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(os.path.join(FIXTURES, "eval", "images", "red-circle.png"), "a.png")
    with open("data.jsonl", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset("data.jsonl", Settings(), from_caption)
    assert str(caught.value) == message


def test_a_dataset_that_is_not_utf8(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "data.jsonl")
    with open(path, "wb") as f:
        f.write(b'{"id": "caf\xe9"}\n')
    with pytest.raises(DatasetError) as caught:
        load_dataset(path, Settings())
    assert str(caught.value) == f"{path}: not valid UTF-8 (byte 0xe9 at offset 11); convert it to UTF-8"


def test_a_caption_only_dataset_needs_no_images(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "captions.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"id": "a", "caption": "a dog on the grass", "key_elements": ["dog"]}\n')
    [item] = load_dataset(path, Settings(language="zh"), from_caption=True)
    assert (item.image, item.language) == ("", "zh")  # the configured language is the default


class _Writer(WriterBase):
    """Answers every conversation with the same text and records what it was asked."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def write(self, conversations: Sequence[Sequence[dict[str, str]]], seeds: Sequence[int | None]) -> list[str]:
        self.asked += ["\n".join(m["content"] for m in c) for c in conversations]
        return [self.answer] * len(conversations)


def test_from_caption_runs_the_writer_stage_and_scores_its_final_text() -> None:
    settings = dataclasses.replace(Settings(), backend="openai", writer_model="scripted")
    # The second sentence invents a feeling: the guard drops it, and eval scores what is left.
    writer = _Writer("A red circle is on a white background. It looks like a happy sun.")
    [s] = evaluate([CIRCLE], settings, from_caption=True, writer=writer)
    assert s.text == "A red circle is on a white background." and s.needs_review
    assert (s.ker, s.rules, s.invented) == (1.0, (), ())
    assert len(writer.asked) == 2 and "a red circle on a white background" in writer.asked[0]  # the answer, then one retry


def test_image_mode_uses_each_items_language() -> None:
    class Captioner(CaptionerBase):
        def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
            return ["a red circle on a white background"] * len(images)

    items = [i for i in load_dataset(DATASET, Settings()) if i.id in ("red-circle", "red-circle-zh")]
    settings = dataclasses.replace(Settings(), backend="openai", writer_model="scripted")
    writer = _Writer("白色背景上有一个红色圆形。")
    scores = evaluate(items, settings, captioner=Captioner(), writer=writer)
    assert [s.language for s in scores] == ["en", "zh"]
    assert scores[1].ker == 1.0 and scores[1].text == "白色背景上有一个红色圆形。"
    assert "盲人读者" not in writer.asked[0] and "盲人读者" in writer.asked[1]  # the prompt's language is the item's


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_from_caption_without_a_writer(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli(["eval", DATASET, "--from-caption", "--backend", "none", "--format", "json", "-o", "run.json"], capsys)
    assert (rc, err) == (0, "")
    data = json.loads(out)
    with open("run.json", encoding="utf-8") as f:
        assert json.load(f) == data
    by_id = {i["id"]: i for i in data["items"]}
    assert by_id["red-circle"]["text"] == "A red circle on a white background." and by_id["red-circle"]["ker"] == 1.0
    assert by_id["sunset"]["missing"] == ["orange"] and by_id["sunset"]["ker"] == 0.75
    # An English caption is no Chinese alt text: the item keeps no text, and says why.
    assert (by_id["house-zh"]["ker"], by_id["house-zh"]["text"]) == (0.0, "") and "language_fallback" in by_id["house-zh"]["reason"]
    assert data["summary"]["ker"] == 0.65 and data["summary"]["invented"] == 0.0 and data["summary"]["no_text"] == 3
    assert data["settings"] == {"backend": "none", "writer_model": "", "captioner_backend": "(given)", "captioner": "(given)", "ocr": "auto",
                                "from_caption": True,
                                "prompt_version": "blind-reader-editor/3", "length": 0, "grounding": "strict", "quantize": "none",
                                "captioner_precision": "auto"}
    assert not os.path.exists(".alttext-cache")  # an evaluation never reads or writes the cache

    rc, table, _ = _cli(["eval", DATASET, "--from-caption", "--backend", "none"], capsys)
    assert rc == 0 and table == render(data)
    assert "sunset         en    illustration 0.75* ok          31       0%" in table.splitlines()  # short, as its caption is
    assert "  KER           0.650 mean; 50% of items pass (KER >= 0.83; * marks the ones that do not)" in table.splitlines()


def test_an_image_that_cannot_be_read_is_an_error_row(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open("broken.png", "wb"):
        pass
    with open("data.jsonl", "w", encoding="utf-8") as f:
        f.write('{"id": "broken", "image": "broken.png", "key_elements": ["dog"]}\n')
    rc, out, err = _cli(["eval", "data.jsonl", "--backend", "none"], capsys)
    path = os.path.join(os.path.realpath(str(tmp_path)), "broken.png")
    assert (rc, err) == (1, f"{path}: empty file, not an image\n")
    lines = out.splitlines()
    assert lines[1] == f"broken  en    error: {path}: empty file, not an image"
    assert lines[3].startswith("1 item, writer none") and lines[3].endswith("; 1 could not be described")
    assert lines[4] == "  KER           - mean; - of items pass (KER >= 0.83; * marks the ones that do not)"


@pytest.fixture(scope="module")
def blip(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("torch")
    from tests.models import tiny_blip

    return tiny_blip(str(tmp_path_factory.mktemp("blip")))


def test_cli_runs_the_real_pipeline_on_the_images(blip: str, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.models import tiny_qwen3

    monkeypatch.chdir(tmp_path_factory.mktemp("eval"))
    writer = tiny_qwen3(str(tmp_path_factory.mktemp("qwen")), QWEN3)
    capsys.readouterr()
    rc, out, err = _cli(["eval", DATASET, "--captioner", blip, "--model", writer, "--device", "cpu", "--format", "json"], capsys)
    data = json.loads(out)
    # Random weights: mechanics only. Every item is described, by both models, and scored; stderr
    # stays clean when it is not a terminal (no loading bars).
    assert (rc, err) == (0, "") and len(data["items"]) == 10 and data["summary"]["errors"] == 0
    assert data["settings"]["captioner"] == blip and data["settings"]["writer_model"] == writer
    assert all(i["caption"] and 0.0 <= i["ker"] <= 1.0 for i in data["items"])
    # Every English item has alt text; a Chinese one has either Chinese text or a reason.
    assert all(i["text"] if i["language"] == "en" else (i["text"] or i["reason"]) for i in data["items"])


def test_dataset_and_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _cli(["eval", "missing.jsonl"], capsys)[1:] == ("", "missing.jsonl: cannot read: No such file or directory\n")
    assert _cli(["eval", "missing.jsonl"], capsys)[0] == 2
    rc, _, err = _cli(["eval"], capsys)
    assert (rc, err) == (2, "alttext: error: give a DATASET, or --compare A.json B.json\n")
    with open("bad.json", "w", encoding="utf-8") as f:
        f.write('{"items": []}')
    rc, _, err = _cli(["eval", "--compare", "bad.json", "bad.json"], capsys)
    assert (rc, err) == (2, "bad.json: not an alttext eval report (make one with alttext eval --format json)\n")
    rc, _, err = _cli(["eval", DATASET, "--from-caption", "--backend", "none", "-o", os.path.join("no", "such", "dir.json")], capsys)
    assert rc == 2 and err.startswith(f"{os.path.join('no', 'such', 'dir.json')}: cannot write: ")


def _report(scores: list[Score]) -> dict[str, Any]:
    return json.loads(json.dumps(report(scores, Settings(), "d.jsonl", False)))


def test_compare_says_which_items_moved(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    before = _report([_score("a", 0.5), _score("b", 1.0), _score("c", 1.0, invented=("red",)), _score("d", 1.0), _score("e", 1.0)])
    after = _report([_score("a", 1.0), _score("b", 0.75), _score("c", 1.0, rules=("subjective: nice",)), _score("d", 1.0), _score("f", 1.0)])
    text, worse = compare(before, after, "A.json", "B.json")
    assert text.splitlines() == [
        "A.json -> B.json",
        "  better a: KER 0.50 -> 1.00",
        "  worse  b: KER 1.00 -> 0.75",
        "  mixed  c: rules ok -> broken; invented 25% -> 0%",
        "  only in A.json: e",
        "  only in B.json: f",
        "1 better, 1 worse, 1 mixed, 1 unchanged; KER 0.900 -> 0.950, pass 80% -> 80%, rules 100% -> 80%, length 100% -> 100%, invented 5% -> 0%",
    ]
    assert worse == 2

    monkeypatch.chdir(tmp_path)
    for name, data in (("A.json", before), ("B.json", after)):
        with open(name, "w", encoding="utf-8") as f:
            json.dump(data, f)
    assert _cli(["eval", "--compare", "A.json", "B.json"], capsys) == (1, text, "")
    rc, out, _ = _cli(["eval", "--compare", "A.json", "A.json"], capsys)
    assert rc == 0 and out.splitlines()[-1].startswith("0 better, 0 worse, 0 mixed, 5 unchanged")


def test_cli_with_a_captioner_on_a_vision_server(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.openai_server import Script, serve

    monkeypatch.chdir(tmp_path)
    answer = "A red circle is in the middle of a white square."
    script = Script(image_replies=[(200, answer, 0.0)], models=["qwen2.5-vl"])
    with serve(script) as url:
        rc, out, err = _cli(["eval", DATASET, "--captioner-backend", "openai", "--captioner-base-url", url, "--captioner-model", "qwen2.5-vl",
                             "--backend", "none", "--ocr", "off", "--format", "json"], capsys)
    data = json.loads(out)
    assert (rc, err, data["summary"]["errors"]) == (0, "", 0)
    assert (data["settings"]["captioner_backend"], data["settings"]["captioner"]) == ("openai", "openai:qwen2.5-vl (vision-facts/1)")
    captioned = [i for i in data["items"] if i["caption"]]
    assert captioned and all(i["caption"] == answer for i in captioned)
    by_id = {i["id"]: i for i in data["items"]}
    assert by_id["red-circle"]["text"] == answer and by_id["red-circle"]["ker"] == 1.0
    # Each picture once (the Chinese items reuse the English items' pictures), every request with it.
    assert script.requests == script.with_images() and len(set(script.images)) == len(script.images) <= 7


def test_cli_with_captioner_none(capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli(["eval", DATASET, "--captioner", "none", "--backend", "none", "--ocr", "off", "--format", "json"], capsys)
    data = json.loads(out)
    assert (rc, data["summary"]["errors"]) == (0, 0)
    assert (data["settings"]["captioner_backend"], data["settings"]["captioner"]) == ("none", "none")
    assert all(not i["caption"] for i in data["items"])  # nothing but the pictures' own evidence
