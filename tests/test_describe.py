from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import pytest

from alttext.model import Context, Settings
from alttext.pipeline.backends import CaptionerBase, WriterBase
from alttext.pipeline.describe import SECOND_PASS_PROMPT, describe
from alttext.pipeline.prompt import PROMPT_VERSION
from alttext.pipeline.records import seed_for
from tests.conftest import FIXTURES, QWEN3

IMG = os.path.join(FIXTURES, "site", "img")
MEADOW, CHART, LOGO = os.path.join(IMG, "meadow.jpg"), os.path.join(IMG, "bar-chart.png"), os.path.join(IMG, "logo.svg")


class ScriptedCaptioner(CaptionerBase):
    """Deterministic test captioner: a caption per call, recording what it was asked."""

    def __init__(self, captions: list[str], second: list[str] | None = None) -> None:
        self.captions, self.second = captions, second or captions
        self.calls: list[tuple[int, str | None]] = []

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        self.calls.append((len(images), prompt))
        source = self.second if prompt else self.captions
        return [source[k % len(source)] for k in range(len(images))]


class ScriptedWriter(WriterBase):
    """Deterministic test writer: answers in order, recording every conversation."""

    def __init__(self, *rounds: list[str]) -> None:
        self.rounds = list(rounds)
        self.seen: list[list[list[dict[str, str]]]] = []
        self.seeds: list[list[int | None]] = []

    def write(self, conversations: Sequence[Sequence[dict[str, str]]], seeds: Sequence[int | None]) -> list[str]:
        self.seen.append([list(c) for c in conversations])
        self.seeds.append(list(seeds))
        return self.rounds.pop(0)[: len(conversations)]


# A 60-character target: answers between 30 and 90 characters pass the length lint. Most tests
# here are about the other stages, so the grounding guard is off; it has its own tests below.
SETTINGS = dataclasses.replace(Settings(), backend="openai", writer_model="qwen3-0.6b", length=60, grounding="off", ocr="off")
GUARDED = dataclasses.replace(SETTINGS, grounding="strict")


def test_good_answer_passes_through() -> None:
    captioner = ScriptedCaptioner(["a meadow under a blue sky with a yellow sun"])
    writer = ScriptedWriter(["<think>ok</think>A meadow is under a blue sky. A yellow sun is in the sky."])
    [d] = describe([MEADOW], [Context(heading="Summer")], GUARDED, captioner=captioner, writer=writer)
    assert d.text == "A meadow is under a blue sky. A yellow sun is in the sky."
    assert (d.caption, d.needs_review, d.error, d.lint, d.prompt_version) == (captioner.captions[0], False, None, (), PROMPT_VERSION)
    assert (d.backend, d.writer_model, d.captioner, d.language) == ("openai", "qwen3-0.6b", SETTINGS.captioner, "en")
    user = writer.seen[0][0][-1]["content"]
    assert "VISION_START\nKind of image: illustration\nCaption: a meadow under a blue sky with a yellow sun\n" in user
    assert "Nearest heading: Summer" in user.split("VISION_END")[1]
    assert captioner.calls == [(1, None)]  # subject, scene and state all given: no second pass


def test_missing_elements_get_a_second_caption() -> None:
    captioner = ScriptedCaptioner(["a red door"], second=["a red door in a garden"])
    writer = ScriptedWriter(["A red door stands in a garden, closed, in the middle of the picture."])
    describe([CHART], None, SETTINGS, captioner=captioner, writer=writer)
    assert captioner.calls == [(1, None), (1, SECOND_PASS_PROMPT)]
    user = writer.seen[0][0][-1]["content"]
    assert "Caption: a red door\nAnother caption: a red door in a garden\n" in user
    assert "Not known" not in user  # what is unknown is left out, not said among the facts


class PairCaptioner(CaptionerBase):
    """Like BLIP's captioner: both captions from one image encoding, the second only where asked."""

    def __init__(self, captions: list[str], second: list[str]) -> None:
        self.captions, self.second = captions, second
        self.asked: list[tuple[int, str]] = []  # (index, plain caption) for every second caption decoded

    def caption_pair(self, images: Sequence[Any], prompt: str, wanted: Any = None) -> list[tuple[str, str | None]]:
        assert prompt == SECOND_PASS_PROMPT
        out: list[tuple[str, str | None]] = []
        for k in range(len(images)):
            first = self.captions[k]
            again = self.second[k] if wanted is None or wanted(k, first) else None
            if again is not None:
                self.asked.append((k, first))
            out.append((first, again))
        return out

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        raise AssertionError("caption_pair gives both captions: no second pass")


def test_the_second_caption_is_decoded_only_where_an_element_is_missing() -> None:
    captioner = PairCaptioner(["a meadow under a blue sky with a yellow sun", "a red door"],
                              ["a meadow in the summer", "a red door in a garden"])
    writer = ScriptedWriter(["A meadow lies under a blue sky with a yellow sun.", "A red door stands in a garden."])
    describe([MEADOW, CHART, MEADOW], None, SETTINGS, captioner=captioner, writer=writer)
    assert captioner.asked == [(1, "a red door")]  # the meadow's caption gives subject, scene and state
    prompts = [c[-1]["content"] for c in writer.seen[0]]
    assert "Caption: a red door\nAnother caption: a red door in a garden\n" in prompts[1] and "a meadow in the summer" not in prompts[0]


def test_page_context_supplies_the_scene() -> None:
    captioner = ScriptedCaptioner(["a red door"])
    writer = ScriptedWriter(["A red door in a white wall of a house, seen from the front."])
    describe([CHART], [Context(figcaption="The door of the house on the street")], SETTINGS, captioner=captioner, writer=writer)
    assert captioner.calls == [(1, None)]
    assert "Another caption" not in writer.seen[0][0][-1]["content"]


def test_lint_retry_names_the_broken_rule() -> None:
    captioner = ScriptedCaptioner(["a meadow under a blue sky with a yellow sun"])
    writer = ScriptedWriter(
        ["A beautiful meadow lies under a blue sky, with a yellow sun high up in it."],
        ["A green meadow lies under a blue sky, with a yellow sun high up in it."],
    )
    [d] = describe([MEADOW], None, SETTINGS, captioner=captioner, writer=writer)
    assert d.text == "A green meadow lies under a blue sky, with a yellow sun high up in it."
    assert d.lint == ("subjective: beautiful",) and not d.needs_review  # the retry fixed it
    assert "- It used subjective: beautiful." in writer.seen[1][0][-1]["content"]
    assert writer.seeds[1][0] == writer.seeds[0][0] + 1  # a new draw, still reproducible


def test_seed_from_image_hash() -> None:
    assert seed_for("0000000f" + "0" * 56) == 15


class KeepingWriter(ScriptedWriter):
    """A scripted writer with a batch size that records what it is asked to keep for a retry."""

    def __init__(self, batch_size: int, *rounds: list[str]) -> None:
        super().__init__(*rounds)
        self.batch_size = batch_size
        self.kept: list[list[int]] = []
        self.forgotten = 0

    def keep(self, rows: Sequence[int]) -> None:
        self.kept.append(list(rows))

    def forget(self) -> None:
        self.forgotten += 1


def test_broken_answers_are_rewritten_a_batch_at_a_time_while_their_cache_is_kept() -> None:
    bad = "A beautiful meadow lies under a blue sky, with a yellow sun high up in it."
    good = "A green meadow lies under a blue sky, with a yellow sun high up in it."
    writer = KeepingWriter(2, [bad, bad], [good, good], [good, bad], [bad], [good, good])
    contexts = [Context(heading=f"Part {k}") for k in range(5)]  # one picture on five pages: five answers
    results = describe([MEADOW] * 5, contexts, SETTINGS, captioner=ScriptedCaptioner(["a meadow under a blue sky with a yellow sun"]), writer=writer)
    assert [d.text for d in results] == [good] * 5
    assert [d.lint for d in results] == [("subjective: beautiful",)] * 2 + [()] + [("subjective: beautiful",)] * 2
    # Rows 0 and 1 fail and are a batch: rewritten at once. Row 3 waits for row 4 to fail too.
    assert writer.kept == [[0, 1], [], [1], [0], []] and writer.forgotten == 1  # and nothing stays kept after the run
    headings = [[c[-1]["content"].split("Nearest heading: ")[1].split("\n")[0] for c in batch] for batch in writer.seen]
    assert headings == [["Part 0", "Part 1"], ["Part 0", "Part 1"], ["Part 2", "Part 3"], ["Part 4"], ["Part 3", "Part 4"]]
    assert all("- It used subjective: beautiful." in c[-1]["content"] for k in (1, 4) for c in writer.seen[k])


def test_still_broken_drops_the_sentence() -> None:
    captioner = ScriptedCaptioner(["a meadow under a blue sky with a yellow sun"])
    bad = "A meadow under a blue sky. The scene is breathtaking."
    writer = ScriptedWriter([bad], [bad])
    [d] = describe([MEADOW], None, SETTINGS, captioner=captioner, writer=writer)
    assert d.text == "A meadow under a blue sky."
    assert d.dropped == ("The scene is breathtaking. (subjective: breathtaking)",) and d.needs_review
    assert d.lint == ("subjective: breathtaking", "subjective: breathtaking")


def test_nothing_usable_falls_back_to_the_caption() -> None:
    captioner = ScriptedCaptioner(["a meadow under a blue sky with a yellow sun"])
    writer = ScriptedWriter(["<think>I cannot"], ["<think>still thinking"])
    [d] = describe([MEADOW], None, SETTINGS, captioner=captioner, writer=writer)
    assert d.text == "A meadow under a blue sky with a yellow sun." and d.needs_review


def test_svg_text_is_the_caption_and_broken_images_are_reported(tmp_path: os.PathLike[str]) -> None:
    broken = os.path.join(str(tmp_path), "broken.png")
    with open(broken, "wb") as f:
        f.write(b"not a png")
    captioner = ScriptedCaptioner(["a bar chart with four bars"])
    writer = ScriptedWriter(["A green leaf sits inside a white circle with a black outline.", "Four bars of a chart rise and fall from left to right."])
    logo, bad, chart = describe([LOGO, broken, CHART], None, SETTINGS, captioner=captioner, writer=writer)
    assert logo.caption == "A green leaf inside a white circle" and logo.text.startswith("A green leaf")
    assert (bad.text, bad.needs_review, bad.error) == ("", True, f"{broken}: not an image format Pillow can read")
    assert chart.caption == "a bar chart with four bars"
    assert captioner.calls[0] == (1, None)  # only the raster image went to the captioner


def test_none_backend_is_the_cleaned_caption() -> None:
    captioner = ScriptedCaptioner(["a meadow under a blue sky with a yellow sun"])
    [d] = describe([MEADOW], None, dataclasses.replace(Settings(), backend="none"), captioner=captioner)
    assert (d.text, d.writer_model, d.backend) == ("A meadow under a blue sky with a yellow sun.", "", "none")


def test_a_batch_holds_one_language_so_its_rows_share_the_instructions() -> None:
    english = "A green meadow lies under a blue sky, with a yellow sun high up in it."
    chinese = "一片绿色的草地在蓝色的天空下面。天空的右上方有一个黄色的太阳，周围没有云。"
    writer = KeepingWriter(2, [english, english], [chinese, chinese])
    settings = dataclasses.replace(SETTINGS, language="auto")
    contexts = [Context(heading=f"Part {k}") for k in range(4)]  # one picture on four pages: four answers
    results = describe([MEADOW] * 4, contexts, settings, page_languages=["en", "zh-CN", "en", "zh-CN"],
                       captioner=ScriptedCaptioner(["a meadow under a blue sky with a yellow sun"]), writer=writer)
    assert [d.language for d in results] == ["en", "zh", "en", "zh"]
    assert [d.text for d in results] == [english, chinese, english, chinese] and not any(d.needs_review for d in results)
    systems = [{c[0]["content"] for c in batch} for batch in writer.seen]
    assert [len(s) for s in systems] == [1, 1] and systems[0] != systems[1]
    headings = [[c[-1]["content"].split("\n- ")[1].split("\n")[0] for c in batch] for batch in writer.seen]
    assert headings == [["Nearest heading: Part 0", "Nearest heading: Part 2"], ["最近的标题：Part 1", "最近的标题：Part 3"]]


def test_language_auto_follows_the_page() -> None:
    captioner = ScriptedCaptioner(["a meadow under a blue sky with a yellow sun"])
    answer = "一片绿色的草地在蓝色的天空下面。天空的右上方有一个黄色的太阳，周围没有云。"
    writer = ScriptedWriter([answer])
    settings = dataclasses.replace(SETTINGS, language="auto")
    [d] = describe([MEADOW], None, settings, page_languages=["zh-CN"], captioner=captioner, writer=writer)
    assert d.language == "zh" and d.text == answer and not d.needs_review
    assert writer.seen[0][0][0]["content"].startswith("你为盲人读者撰写替代文本")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    pytest.importorskip("torch")
    from tests.models import tiny_blip, tiny_qwen3

    qwen3 = QWEN3
    return tiny_blip(str(tmp_path_factory.mktemp("blip"))), tiny_qwen3(str(tmp_path_factory.mktemp("qwen")), qwen3)


def test_end_to_end_with_tiny_models(tiny_models: tuple[str, str]) -> None:
    blip, qwen = tiny_models
    settings = dataclasses.replace(Settings(), captioner=blip, writer_model=qwen, backend="transformers", device="cpu", batch_size=2)
    results = describe([MEADOW, CHART, MEADOW], None, settings)
    assert [d.image for d in results] == [MEADOW, CHART, MEADOW]
    assert results[0].caption == results[2].caption  # greedy captions
    assert describe([MEADOW, CHART, MEADOW], None, settings) == results  # seeded: a rerun gives the same text
    from alttext.pipeline.describe import make_captioner, make_writer

    assert make_captioner(settings) is make_captioner(settings) and make_writer(settings) is make_writer(settings)
    for d in results:
        assert d.error is None and d.caption and d.text  # random weights: never empty, always a sentence
        assert d.text[-1] in ".!?" and "\n" not in d.text


SHOT = os.path.join(FIXTURES, "evidence", "images", "delete-dialog.png")
SHOT_TEXT = "Screenshot with the text Delete project? and This action cannot be undone, with Cancel and Delete boxes."


def _screen_settings(**change: Any) -> Settings:
    return dataclasses.replace(GUARDED, captioner="none", length=0, ocr="auto", **change)


def test_an_answer_that_copies_the_prompt_is_rejected_and_retried() -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    copy = "Screenshot with the text Rename file? and Enter a new name, and a blue OK box on the right."
    writer = ScriptedWriter([copy], [SHOT_TEXT])
    [d] = describe([SHOT], None, _screen_settings(), writer=writer)
    assert d.text == SHOT_TEXT and not d.needs_review and d.rejected == (copy,)
    assert any(rule.startswith("prompt-echo: ") for rule in d.lint)
    assert "It copied words from the instructions or examples" in writer.seen[1][0][-1]["content"]


def test_an_answer_that_drops_the_visible_text_falls_back_to_the_text_itself() -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    vague = "Screenshot with the text Cancel."
    [d] = describe([SHOT], None, _screen_settings(), writer=ScriptedWriter([vague], [vague]))
    assert d.text == "Screenshot of a user interface: Delete project?; This action cannot be undone; Cancel; Delete."
    assert d.needs_review and d.lint[0].startswith("missing-text: ") and d.rejected == (vague, vague)


def test_an_answer_that_forgets_the_subject_is_rejected() -> None:
    captioner = ScriptedCaptioner(["a red door in a white wall"])
    writer = ScriptedWriter(["A white wall."], ["A red door in a white wall."])
    [d] = describe([MEADOW], None, GUARDED, captioner=captioner, writer=writer)
    assert d.text == "A red door in a white wall." and d.lint == ("subject: a red door in a white wall",)


def test_a_chinese_page_never_takes_an_english_answer() -> None:
    captioner = ScriptedCaptioner(["a red door in a white wall"])
    english = "A red door in a white wall."
    settings = dataclasses.replace(GUARDED, language="zh")
    [d] = describe([MEADOW], None, settings, captioner=captioner, writer=ScriptedWriter([english], [english]))
    assert (d.text, d.needs_review) == ("", True) and d.reason.startswith("no acceptable Chinese alt text")
    assert "language: not written in Chinese" in d.lint
    [d] = describe([MEADOW], None, settings, captioner=captioner, writer=ScriptedWriter(["白色的墙上有一扇红色的门。"]))
    assert d.text == "白色的墙上有一扇红色的门。" and not d.needs_review


def test_given_captions_stand_in_for_the_captioner() -> None:
    from tests.fixing import EchoWriter

    class Refuse(CaptionerBase):
        def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
            raise AssertionError("the captioner is not needed")

    # With an image, its other evidence counts too (its kind here); without one, the caption alone.
    with_image, alone = describe([MEADOW, ""], None, GUARDED, captions=[("a red door in a white wall",), ("two cats",)],
                                 captioner=Refuse(), writer=EchoWriter())
    assert (with_image.text, with_image.kind, with_image.captioner) == ("A red door in a white wall.", "illustration", "(given)")
    assert (alone.text, alone.kind, alone.error) == ("Two cats.", "", None)


def test_captioner_none_never_loads_a_captioner(monkeypatch: pytest.MonkeyPatch) -> None:
    from alttext.pipeline import describe as pipeline

    monkeypatch.setattr(pipeline, "make_captioner", lambda settings: (_ for _ in ()).throw(AssertionError("captioner loaded")))
    [d] = describe([LOGO], None, dataclasses.replace(SETTINGS, captioner="none", backend="none"))
    assert d.text == "A green leaf inside a white circle." and d.captioner == "none"


# Backends by name ---------------------------------------------------------------------------------


def test_backends_are_chosen_by_name() -> None:
    from alttext.pipeline.caption import Captioner as Blip
    from alttext.pipeline.captioner_openai import OpenAICaptioner
    from alttext.pipeline.describe import make_captioner, make_writer
    from alttext.pipeline.writer_openai import OpenAIWriter
    from alttext.pipeline.writer_transformers import TransformersWriter

    base = dataclasses.replace(Settings(), base_url="http://gpu:8000", writer_model="Qwen/Qwen2.5-VL-7B-Instruct", concurrency=16)
    blip = make_captioner(base)
    assert isinstance(blip, Blip) and not blip.loaded and blip.model_id == base.captioner  # built, not loaded
    server = make_captioner(dataclasses.replace(base, captioner_backend="openai"))
    assert isinstance(server, OpenAICaptioner) and server.batch_size == 16
    assert (server.base_url, server.endpoint.settings.model) == ("http://gpu:8000/v1", "Qwen/Qwen2.5-VL-7B-Instruct")  # the writer's
    own = make_captioner(dataclasses.replace(base, captioner_backend="openai", captioner_base_url="http://cpu:11434", captioner_model="moondream"))
    assert isinstance(own, OpenAICaptioner) and (own.base_url, own.endpoint.settings.model) == ("http://cpu:11434/v1", "moondream")
    assert make_captioner(dataclasses.replace(base, captioner_backend="none")) is None
    assert make_captioner(dataclasses.replace(base, captioner="none", captioner_backend="openai")) is None
    assert isinstance(make_writer(base), TransformersWriter) and not make_writer(base).loaded  # type: ignore[union-attr]
    assert isinstance(make_writer(dataclasses.replace(base, backend="openai")), OpenAIWriter)
    assert make_writer(dataclasses.replace(base, backend="none")) is None
    assert make_captioner(dataclasses.replace(base, captioner_backend="openai")) is server  # one per configuration


class _Loads:
    """Needs loading, and counts its loads."""

    loads = 0

    @property
    def loaded(self) -> bool:
        return self.loads > 0

    def load(self) -> None:
        self.loads += 1


class LazyCaptioner(_Loads, ScriptedCaptioner):
    """A registered captioner that needs loading, with a batch size of its own."""

    batch_size = 2


class LazyWriter(_Loads, ScriptedWriter):
    pass


def test_a_registered_backend_is_used_through_the_declared_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    from alttext.config import load_settings
    from alttext.pipeline import backends
    from alttext.pipeline import describe as pipeline

    monkeypatch.setattr(backends, "CAPTIONERS", dict(backends.CAPTIONERS))
    monkeypatch.setattr(backends, "WRITERS", dict(backends.WRITERS))
    monkeypatch.setattr(pipeline, "_LOADED", {})
    captioner = LazyCaptioner(["a meadow under a blue sky with a yellow sun"])
    writer = LazyWriter(["A meadow lies under a blue sky with a yellow sun."] * 3)
    backends.register_captioner("scripted", key=lambda s: (), label=lambda s: "scripted/1")(lambda s: captioner)
    backends.register_writer("scripted", key=lambda s: ())(lambda s: writer)
    # The configuration accepts a registered name, as it does the built-in ones.
    settings = load_settings({"captioner_backend": "scripted", "backend": "scripted", "length": 60, "grounding": "off", "ocr": "off"},
                             environ={}, discover=False)
    results = describe([MEADOW, CHART, LOGO], None, dataclasses.replace(settings, cache=False))
    assert (captioner.loads, writer.loads) == (1, 1)  # not loaded: loaded once, before the first picture
    assert captioner.calls == [(2, None)]  # its own batch size: the two pictures (the SVG is read from its text)
    assert [d.captioner for d in results] == ["scripted/1"] * 3 and results[0].text == "A meadow lies under a blue sky with a yellow sun."


def test_a_writer_without_batch_size_keep_or_forget_gets_the_plain_defaults() -> None:
    from alttext.pipeline.backends import WriterBase

    class Plain(WriterBase):
        def __init__(self) -> None:
            self.batches: list[int] = []

        def write(self, conversations: Sequence[Any], seeds: Sequence[int | None]) -> list[str]:
            self.batches.append(len(conversations))
            return ["A meadow lies under a blue sky with a yellow sun."] * len(conversations)

    writer = Plain()
    contexts = [Context(heading=f"Part {k}") for k in range(11)]
    describe([MEADOW] * 11, contexts, dataclasses.replace(SETTINGS, batch_size=3, concurrency=5),
             captioner=ScriptedCaptioner(["a meadow under a blue sky with a yellow sun"]), writer=writer)
    assert writer.batches == [5, 5, 1]  # batch_size None: the larger of batch_size and concurrency


def test_the_judge_holds_the_length_budget_and_the_writer_label_names_the_model_that_wrote() -> None:
    from alttext.pipeline.backends import writer_label
    from alttext.pipeline.judge import Judge
    from alttext.pipeline.prompt import budget

    default, short = Judge.from_settings(dataclasses.replace(SETTINGS, length=0)), Judge.from_settings(SETTINGS)
    assert (default.budget("en"), default.budget("zh")) == (budget("en"), budget("zh"))  # 0: each language's own length
    assert (short.budget("en").maximum, short.budget("zh").maximum) == (90, 90)
    assert writer_label(SETTINGS) == "qwen3-0.6b" and writer_label(dataclasses.replace(SETTINGS, backend="none")) == ""
