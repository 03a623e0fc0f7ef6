from __future__ import annotations

import os

import pytest

from alttext.pipeline.prompt import PROMPT_VERSION, Context, Facts, budget, build_messages, render, resolve_language
from tests.conftest import REPO

GOLDEN = os.path.join(REPO, "tests", "golden")
QWEN3 = os.path.join(os.path.dirname(REPO), "shared", "models", "qwen3-0.6b")

FACTS = Facts(
    caption="a dog running on the grass with a frisbee in its mouth",
    details=("a boy standing in the background",),
    unknown=("scene",),
)
CONTEXT = Context(page_title="Our weekend", heading="At the park", sentence="Rex loves the park.", file_name="rex.jpg")


def _golden(name: str) -> str:
    with open(os.path.join(GOLDEN, name), encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_prompt_golden(language: str) -> None:
    # Any change to the prompt is a visible diff here; bump PROMPT_VERSION with it.
    text = f"version: {PROMPT_VERSION}\n\n" + render(build_messages(FACTS, CONTEXT, language))
    assert text == _golden(f"prompt-{language}.txt")


def test_structure() -> None:
    system, user = build_messages(FACTS, CONTEXT, "en", length=100)
    assert system["role"] == "system" and user["role"] == "user"
    assert "about 100 characters, at most 150, at least 50" in system["content"]
    vision = user["content"].split("VISION_START\n", 1)[1].split("\nVISION_END", 1)[0]
    assert vision.splitlines()[:2] == [FACTS.caption, "a boy standing in the background"]
    assert "Not known from the picture (say nothing about it): where it is" in vision
    assert "Rex loves the park." not in vision  # context is never presented as a visual fact
    assert user["content"].endswith("Write the alt text.")


def test_chinese_keeps_the_core_instruction_in_english() -> None:
    system = build_messages(FACTS, Context(), "zh")[0]["content"]
    assert system.startswith("Core instruction: You are a photo-magazine editor")
    assert "约 60 个字，最多 90 个字，最少 30 个字" in system


def test_feedback_for_a_retry() -> None:
    user = build_messages(FACTS, Context(), "en", feedback=("subjective word: beautiful",))[1]["content"]
    assert "Your previous answer broke these rules; write it again without breaking them:\n- subjective word: beautiful" in user


def test_empty_context_is_left_out() -> None:
    user = build_messages(Facts("a red door"), Context(), "en")[1]["content"]
    assert user == "VISION_START\na red door\nVISION_END\n\nWrite the alt text."


def test_budget_and_language() -> None:
    assert budget("en") == budget("en", 125)
    assert (budget("zh").target, budget("zh").maximum) == (60, 90)
    assert resolve_language("auto", "zh-CN") == "zh" and resolve_language("auto", "en-GB") == "en"
    assert resolve_language("auto", "") == "en" and resolve_language("zh", "en") == "zh"
    with pytest.raises(ValueError, match="language must be one of en, zh"):
        build_messages(FACTS, CONTEXT, "fr")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_qwen3_chat_template_golden(language: str) -> None:
    """The exact text Qwen3-0.6B receives, through its real tokenizer and chat template."""
    transformers = pytest.importorskip("transformers")
    if not os.path.isdir(QWEN3):
        pytest.skip(f"{QWEN3} not found")
    tokenizer = transformers.AutoTokenizer.from_pretrained(QWEN3)
    text = tokenizer.apply_chat_template(
        build_messages(FACTS, CONTEXT, language), tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")  # thinking switched off
    assert text == _golden(f"prompt-{language}.qwen3.txt")
