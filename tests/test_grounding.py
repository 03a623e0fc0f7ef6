from __future__ import annotations

import dataclasses
import os

import pytest

from alttext.model import Context, Settings
from alttext.pipeline import grounding
from alttext.pipeline.describe import describe
from tests.conftest import FIXTURES
from tests.test_describe import ScriptedCaptioner, ScriptedWriter

MEADOW = os.path.join(FIXTURES, "site", "img", "meadow.jpg")
# Long enough that no output here is cut to fit (cutting would hide the sentence under test).
STRICT = dataclasses.replace(Settings(), backend="openai", writer_model="qwen3-0.6b", length=80, ocr="off")


def _guarded(caption: str, output: str, language: str = "en", context: Context = Context(), settings: Settings = STRICT) -> tuple[str, tuple[str, ...], bool]:
    """The text the pipeline keeps when the writer says ``output`` twice (first answer and retry)."""
    settings = dataclasses.replace(settings, language=language)
    [d] = describe([MEADOW], [context], settings, captioner=ScriptedCaptioner([caption]), writer=ScriptedWriter([output], [output]))
    return d.text, d.dropped, d.needs_review


@pytest.mark.parametrize(
    ("caption", "output", "kept"),
    [
        # Paraphrases that must survive.
        pytest.param("a man sitting on a couch", "A man sits on a sofa.", "A man sits on a sofa.", id="sits-sitting-couch-sofa"),
        pytest.param("two dogs running on the grass", "A pair of dogs run on the grassy lawn.", "A pair of dogs run on the grassy lawn.", id="pair-two-grassy"),
        pytest.param("a boy riding a skateboard down a street", "A child rides a skateboard down the road.", "A child rides a skateboard down the road.", id="general-word-child"),
        pytest.param("a man holding an umbrella in the rain", "A man holds an umbrella in the rain.", "A man holds an umbrella in the rain.", id="holding-holds"),
        pytest.param("women walking on a beach", "Two women walk along the shore.", None, id="count-not-given"),
        # Inventions that must go.
        pytest.param(
            "a woman sitting at a table with a cup of coffee",
            "A woman sits at a table with a cup of coffee. Her eyes glow with a hint of mischief.",
            "A woman sits at a table with a cup of coffee.",
            id="emotion",
        ),
        pytest.param("a car parked on a street", "A red car is parked on the street.", "A car parked on a street.", id="colour-not-in-caption"),
        pytest.param(
            "a kitchen with a stove and a sink",
            "A kitchen has a stove and a sink. A large pot of water is on the stove.",
            "A kitchen has a stove and a sink.",
            id="extra-object",
        ),
        pytest.param("a cat sitting on a chair", "A cat sits on a chair. The chair stands on the left.", "A cat sits on a chair.", id="invented-position"),
        pytest.param("a man sitting on a couch", "A person sits on a sofa.", "A person sits on a sofa.", id="general-from-specific"),
        pytest.param("a person sitting on a couch", "A man sits on a sofa.", "A person sitting on a couch.", id="specific-from-general"),
        # What is left must still name the subject.
        pytest.param("a dog lying on a beach", "A beach. A black dog lies on it.", "A dog lying on a beach.", id="rest-lost-the-subject"),
        pytest.param("a dog on a beach", "Waves crash on a sandy shore at sunset.", "A dog on a beach.", id="nothing-supported"),
    ],
)
def test_english(caption: str, output: str, kept: str | None) -> None:
    text, dropped, review = _guarded(caption, output)
    expected = caption[0].upper() + caption[1:] + "." if kept is None else kept
    assert text == expected
    assert bool(dropped) == (text != output) and (review or text == output)


def test_page_context_is_evidence() -> None:
    context = Context(figcaption="Monthly visitors by country")
    assert _guarded("a bar chart", "A bar chart of monthly visitors by country.", context=context)[0] == "A bar chart of monthly visitors by country."
    assert _guarded("a bar chart", "A bar chart of monthly visitors by country.")[0] == "A bar chart."


@pytest.mark.parametrize(
    ("caption", "output", "context", "kept"),
    [
        pytest.param("a dog running on the grass", "一只狗在草地上奔跑。", Context(), "一只狗在草地上奔跑。", id="english-caption-supports"),
        pytest.param("two cats sitting on a couch", "两只猫坐在沙发上。", Context(), "两只猫坐在沙发上。", id="two-cats-sofa"),
        pytest.param("a photo", "两只猫在沙发上。", Context(figcaption="沙发上的两只小猫"), "两只猫在沙发上。", id="chinese-context-supports"),
        pytest.param(
            "a woman sitting at a table", "一个女人坐在桌子旁。她的眼睛里充满了喜悦。", Context(), "一个女人坐在桌子旁。", id="emotion",
        ),
        pytest.param(
            "a dog running on the grass", "一只狗在草地上奔跑。远处有一座红色的房子。", Context(), "一只狗在草地上奔跑。", id="extra-object",
        ),
        # No Chinese text can be made from an English caption alone: none is kept (see test_language_fallback).
        pytest.param("a car parked on the street", "一辆红色的汽车停在街道上。", Context(), "", id="colour-leaves-no-chinese-text"),
    ],
)
def test_chinese(caption: str, output: str, context: Context, kept: str) -> None:
    assert _guarded(caption, output, "zh", context)[0] == kept


def test_dropped_says_why() -> None:
    _, dropped, review = _guarded("a woman sitting at a table", "A woman sits at a table. Her eyes glow with a hint of mischief.")
    assert dropped == ("Her eyes glow with a hint of mischief. (subjective: mischief; unsupported: eyes, glow, hint)",) and review


# Long enough for the length lint, so that only the guard speaks.
CAR_CAPTION, CAR = "a car parked on a street next to a tall building", "car is parked on a street next to a tall building."


def test_retry_names_the_unsupported_words() -> None:
    writer = ScriptedWriter([f"A red {CAR}"], [f"A {CAR}"])
    [d] = describe([MEADOW], None, STRICT, captioner=ScriptedCaptioner([CAR_CAPTION]), writer=writer)
    assert "- The facts do not give: red. Leave that out." in writer.seen[1][0][-1]["content"]
    assert (d.text, d.needs_review, d.lint) == (f"A {CAR}", False, ("unsupported: red",))


def test_lint_words_are_not_named_twice() -> None:
    _, dropped, _ = _guarded("a meadow under a blue sky", "A meadow under a blue sky. The scene is breathtaking.")
    assert dropped == ("The scene is breathtaking. (subjective: breathtaking)",)


@pytest.mark.parametrize(
    ("mode", "review", "lint"),
    [
        pytest.param("lenient", True, ("unsupported: red",), id="lenient-keeps-and-marks"),
        pytest.param("off", False, (), id="off"),
    ],
)
def test_modes(mode: str, review: bool, lint: tuple[str, ...]) -> None:
    settings = dataclasses.replace(STRICT, grounding=mode)
    writer = ScriptedWriter([f"A red {CAR}"])
    [d] = describe([MEADOW], None, settings, captioner=ScriptedCaptioner([CAR_CAPTION]), writer=writer)
    assert (d.text, d.needs_review, d.lint, d.dropped, len(writer.seen)) == (f"A red {CAR}", review, lint, (), 1)


@pytest.mark.parametrize(
    ("words", "same"),
    [
        pytest.param(["sits", "sitting", "sat", "seated"], True, id="sit"),
        pytest.param(["couch", "sofa", "couches"], True, id="sofa"),
        pytest.param(["two", "pair", "couple", "2"], True, id="two"),
        pytest.param(["running", "runs", "ran"], True, id="run"),
        pytest.param(["women", "woman"], True, id="woman"),
        pytest.param(["glasses", "glass"], True, id="glass"),
        pytest.param(["red", "reddish"], False, id="not-a-stem"),
        pytest.param(["dog", "cat"], False, id="different"),
    ],
)
def test_keys(words: list[str], same: bool) -> None:
    assert (len({grounding.key(w) for w in words}) == 1) == same


def test_general_words_are_supported_one_way() -> None:
    man = grounding.evidence(["a man"])
    person = grounding.evidence(["a person"])
    assert grounding.unsupported("A person.", man) == [] and grounding.unsupported("A man.", person) == ["man"]


def test_subject() -> None:
    assert grounding.names_subject("Dogs play.", "a close up of a group of dogs on grass")
    assert not grounding.names_subject("Grass.", "a close up of a group of dogs on grass")
    assert grounding.names_subject("猫在沙发上。", "a cat sitting on a couch")


def test_language_fallback() -> None:
    """A Chinese page never gets English alt text unless the user allows it: the image stays a
    finding with the reason, marked for review."""
    text, _, review = _guarded("a car parked on the street", "一辆红色的汽车停在街道上。", "zh")
    assert (text, review) == ("", True)
    allowed = dataclasses.replace(STRICT, language_fallback=True)
    settings = dataclasses.replace(allowed, language="zh")
    [d] = describe([MEADOW], None, settings, captioner=ScriptedCaptioner(["a car parked on the street"]),
                   writer=ScriptedWriter(["一辆红色的汽车停在街道上。"], ["一辆红色的汽车停在街道上。"]))
    assert (d.text, d.needs_review, d.language) == ("A car parked on the street.", True, "zh")
    assert d.notes == ("written in en: no acceptable text in the page's language could be made",)
