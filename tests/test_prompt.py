from __future__ import annotations

import os

import pytest

from alttext.model import Context
from alttext.pipeline.evidence import Evidence
from alttext.pipeline.evidence.ocr import TextLine
from alttext.pipeline.prompt import (
    PROMPT_VERSION,
    budget,
    build_messages,
    examples,
    feedback_lines,
    fixed_text,
    instructions,
    resolve_language,
)
from tests.conftest import QWEN3, REPO

GOLDEN = os.path.join(REPO, "tests", "golden")

PHOTO = Evidence(kind="photo", captions=("a dog running on the grass with a frisbee in its mouth", "a boy standing in the background"))
SCREEN = Evidence(
    kind="screenshot",
    text=(TextLine("Acme Cloud", (0.4, 0.1, 0.6, 0.16), 0.99), TextLine("Email", (0.3, 0.4, 0.38, 0.44), 0.99),
          TextLine("Sign in", (0.45, 0.8, 0.55, 0.84), 0.98)),
    read=True,
    colours=(("background", "", "white"), ("on", "Sign in", "blue")),
)
CONTEXT = Context(page_title="Our weekend", heading="At the park", sentence="Rex loves the park.", file_name="rex.jpg")


def _golden(name: str) -> str:
    with open(os.path.join(GOLDEN, name), encoding="utf-8") as f:
        return f.read()


def _dump(messages: list[dict[str, str]]) -> str:
    """The messages as the golden files hold them: each role, then its content."""
    return "".join(f"[{m['role']}]\n{m['content']}\n\n" for m in messages)


def _vision(messages: list[dict[str, str]]) -> list[str]:
    return messages[-1]["content"].split("VISION_START\n", 1)[1].split("\nVISION_END", 1)[0].splitlines()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_prompt_golden(language: str) -> None:
    # Any change to the prompt is a visible diff here; bump PROMPT_VERSION with it.
    text = f"version: {PROMPT_VERSION}\n\n" + _dump(build_messages(PHOTO, CONTEXT, language))
    assert text == _golden(f"prompt-{language}.txt")


def test_structure_rules_then_worked_examples_then_the_picture() -> None:
    messages = build_messages(PHOTO, CONTEXT, "en", length=100)
    roles = [m["role"] for m in messages]
    assert roles[0] == "system" and roles[-1] == "user"
    assert roles[1:-1] == ["user", "assistant"] * (len(roles[1:-1]) // 2) and len(roles) > 3
    assert "At most 150 characters." in messages[0]["content"]
    assert _vision(messages) == ["Kind of image: photograph", f"Caption: {PHOTO.captions[0]}", f"Another caption: {PHOTO.captions[1]}"]
    last = messages[-1]["content"]
    assert "Rex loves the park." in last.split("VISION_END", 1)[1]  # context, after the facts
    assert "rex.jpg" not in last  # a file name helps tell the kind; a small model copies it
    assert last.endswith("Write the alt text.")


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("evidence", [PHOTO, SCREEN], ids=["photo", "screenshot"])
def test_nothing_between_the_markers_reads_as_an_instruction(language: str, evidence: Evidence) -> None:
    # A small model copies instructions that sit among the facts ("say nothing about it") into its
    # answer. Every line there is a labelled fact or a line of visible text.
    for line in _vision(build_messages(evidence, CONTEXT, language)):
        assert not any(word in line.lower() for word in ("say", "do not", "don't", "write", "never", "不要", "请", "写"))
    vision = _vision(build_messages(SCREEN, Context(), "en"))
    assert '- title, top: "Acme Cloud"' in vision and '- bottom: "Sign in"' in vision
    assert '"Sign in" is on a blue box' in vision and "Background: white" in vision


def test_worked_examples_follow_the_kind_of_image() -> None:
    photo = _dump(build_messages(PHOTO, Context(), "en"))
    screen = _dump(build_messages(SCREEN, Context(), "en"))
    assert "A brown horse stands in a field" in photo and "Budget planner" not in photo
    assert "Budget planner" in screen and "A brown horse" not in screen
    assert examples("", "en") == examples("photo", "en")  # a caption of unknown kind: a photograph's
    for kind in ("photo", "screenshot", "chart", "diagram", "text", "logo", "illustration"):
        assert examples(kind, "zh")[0][2] and all("\u4e00" <= c <= "\u9fff" for c in examples(kind, "zh")[0][2][:1])


def test_feedback_for_a_retry_says_what_was_wrong() -> None:
    lines = feedback_lines([("unsupported", "snow"), ("prompt-echo", "a brown horse stands in a"), ("unsupported", "snow")], "en")
    assert lines == ("The facts do not give: snow. Leave that out.",
                     "It copied words from the instructions or examples instead of describing this picture.")
    user = build_messages(PHOTO, Context(), "en", feedback=lines)[-1]["content"]
    assert "Your previous answer was not usable:\n- The facts do not give: snow. Leave that out." in user


def test_instructions_are_everything_but_the_picture() -> None:
    messages = build_messages(SCREEN, CONTEXT, "en")
    text = instructions(messages)
    assert "Budget planner" in text and "Acme Cloud" not in text and "Rex loves the park." not in text
    assert fixed_text("screenshot", "en") == instructions(build_messages(Evidence(kind="screenshot"), Context(), "en"))


def test_budget_and_language() -> None:
    assert budget("en") == budget("en", 125)
    assert (budget("zh").target, budget("zh").maximum) == (60, 90)
    # The lower bound follows the evidence: a seven-word caption makes a short, true alt text.
    assert budget("en", evidence=39).minimum == 20 and budget("en", evidence=400).minimum == 62
    assert resolve_language("auto", "zh-CN") == "zh" and resolve_language("auto", "en-GB") == "en"
    assert resolve_language("auto", "") == "en" and resolve_language("zh", "en") == "zh"
    with pytest.raises(ValueError, match="language must be one of en, zh"):
        build_messages(PHOTO, CONTEXT, "fr")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_qwen3_chat_template_golden(language: str) -> None:
    """The exact text Qwen3-0.6B receives, through its real tokenizer and chat template."""
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(QWEN3)
    text = tokenizer.apply_chat_template(
        build_messages(PHOTO, CONTEXT, language), tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")  # thinking switched off
    assert text == _golden(f"prompt-{language}.qwen3.txt")
