from __future__ import annotations

import pytest

from alttext.pipeline.clean import LintFinding, clean, drop_sentences, lint

CLEAN_EN = [
    pytest.param("A brown dog runs on grass.", "A brown dog runs on grass.", id="already-clean"),
    pytest.param("<think>\nThe user wants alt text. Let me see.\n</think>\n\nA brown dog runs on grass.", "A brown dog runs on grass.", id="think-block"),
    pytest.param("<think>I should describe the dog and then", "", id="unterminated-think-only"),
    pytest.param("Okay, so the caption says a dog.</think>A dog on grass.", "A dog on grass.", id="close-without-open"),
    pytest.param("<think>x</think><answer>A dog on grass.</answer> Hope this helps!", "A dog on grass.", id="answer-tags"),
    pytest.param("<answer>A dog on grass. It holds a frisbee", "A dog on grass.", id="unterminated-answer-and-fragment"),
    pytest.param('Alt text: "This image shows a dog running on grass."', "A dog running on grass.", id="label-quotes-opening"),
    pytest.param("**Description:** A dog on *green* grass.", "A dog on green grass.", id="markdown-label"),
    pytest.param("Here is the alt text:\n\n- A dog on grass.\n- A boy behind it.", "A dog on grass. A boy behind it.", id="list-folded"),
    pytest.param("In this image, a dog runs.", "A dog runs.", id="in-this-image"),
    pytest.param("An image of a red door", "A red door.", id="image-of-and-period-added"),
    pytest.param("A dog.\nA cat.\n\nA bird.", "A dog. A cat. A bird.", id="one-line"),
    pytest.param("", "", id="empty"),
]


@pytest.mark.parametrize(("raw", "expected"), CLEAN_EN)
def test_clean_english(raw: str, expected: str) -> None:
    assert clean(raw, "en") == expected


CLEAN_ZH = [
    pytest.param("<think>\n好的\n</think>\n\n一只棕色的狗在草地上奔跑。", "一只棕色的狗在草地上奔跑。", id="think"),
    pytest.param("替代文本：“这张图片显示一只狗在草地上奔跑。”", "一只狗在草地上奔跑。", id="label-quotes-opening"),
    pytest.param("图中，一只狗叼着飞盘", "一只狗叼着飞盘。", id="opening-and-full-stop"),
    pytest.param("一只狗在草地上。远处站着一个男孩。他的手", "一只狗在草地上。远处站着一个男孩。", id="fragment-dropped"),
]


@pytest.mark.parametrize(("raw", "expected"), CLEAN_ZH)
def test_clean_chinese(raw: str, expected: str) -> None:
    assert clean(raw, "zh") == expected


def test_length_budget_ends_on_a_sentence() -> None:
    text = "A dog runs on grass. A boy stands behind it. A red kite flies above them both."
    assert clean(text, "en", maximum=50) == "A dog runs on grass. A boy stands behind it."
    long_one = "A dog with a long tail runs across a very wide field of grass toward a boy"
    assert clean(long_one, "en", maximum=30) == "A dog with a long tail runs."
    assert len(clean(long_one, "en", maximum=30)) <= 30
    assert clean("一只狗在草地上奔跑。远处有一个男孩。", "zh", maximum=12) == "一只狗在草地上奔跑。"


def test_untrusted_markup_stays_text() -> None:
    out = clean('A dog.\n"><script>alert(1)</script>', "en")
    assert "\n" not in out  # newlines never reach a file; escaping is the writer's job


LINT_EN = [
    pytest.param("A dog runs on grass.", [], id="clean"),
    pytest.param("A beautiful dog runs. It is brown.", [LintFinding("subjective", "beautiful", 0)], id="subjective"),
    pytest.param("Clouds drift like a sea of cotton.", [LintFinding("metaphor", "like a", 0)], id="metaphor"),
    pytest.param("A dog. A sea of tulips.", [LintFinding("metaphor", "A sea of", 1)], id="metaphor-second-sentence"),
    pytest.param("A dog. A fence 2 m tall.", [LintFinding("measurement", "2 m", 1)], id="measurement"),
    pytest.param("A parade in July 2019.", [LintFinding("date", "July", 0), LintFinding("date", "2019", 0)], id="date"),
    pytest.param("This image shows a dog.", [LintFinding("opening", "This", 0)], id="opening"),
    pytest.param("Her eyes glow with a hint of mischief.", [LintFinding("subjective", "mischief", 0)], id="invented-emotion"),
    pytest.param("A dog. A man named Tom holds an iPhone.", [LintFinding("name", "Tom", 1), LintFinding("name", "iPhone", 1)], id="names"),
    pytest.param("Runners wear Nike's shoes.", [LintFinding("name", "Nike's", 0)], id="possessive-name"),
    pytest.param('A sign reads "Open". A TV stands on the left.', [], id="quoted-text-and-acronym-are-not-names"),
]


@pytest.mark.parametrize(("text", "expected"), LINT_EN)
def test_lint_english(text: str, expected: list[LintFinding]) -> None:
    assert lint(text, "en", 1, 200) == expected


LINT_ZH = [
    pytest.param("一只狗在草地上奔跑。", [], id="clean"),
    pytest.param("一只可爱的狗。草地很宽。", [LintFinding("subjective", "可爱", 0)], id="subjective"),
    pytest.param("云朵像棉花。", [LintFinding("metaphor", "像", 0)], id="metaphor"),
    pytest.param("一棵树。树高5米。", [LintFinding("measurement", "5米", 1)], id="measurement"),
    pytest.param("2019年的游行。", [LintFinding("date", "2019年", 0)], id="date"),
    pytest.param("桌上有一部iPhone手机。", [LintFinding("name", "iPhone", 0)], id="latin-name"),
]


@pytest.mark.parametrize(("text", "expected"), LINT_ZH)
def test_lint_chinese(text: str, expected: list[LintFinding]) -> None:
    assert lint(text, "zh", 1, 200) == expected


def test_lint_allows_names_the_picture_or_page_gives() -> None:
    assert lint("A street in Paris.", "en", 1, 200, given="Our week in Paris") == []
    assert lint("A street in Paris.", "en", 1, 200, given="Our week in Lyon") == [LintFinding("name", "Paris", 0)]
    assert lint("一块写着Acme的招牌。", "zh", 1, 200, given="Acme") == []


def test_lint_length_and_drop() -> None:
    assert lint("A dog.", "en", 10, 100) == [LintFinding("too-short", "6 characters, at least 10", -1)]
    assert str(lint("A dog runs.", "en", 1, 5)[0]) == "too-long: 11 characters, at most 5"
    text = "A dog runs on grass. A beautiful sky is above. A boy stands on the left."
    assert drop_sentences(text, "en", lint(text, "en", 1, 200)) == "A dog runs on grass. A boy stands on the left."
    assert drop_sentences("一只可爱的狗。草地很宽。", "zh", lint("一只可爱的狗。草地很宽。", "zh", 1, 99)) == "草地很宽。"


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("Not a dog. Under it, a cat.", [], id="sentence-initial-words-are-not-names"),
    pytest.param("A Chinese sign and French bread.", [], id="nationality-adjectives-are-not-names"),
    pytest.param('"Rex" sleeps.', [], id="first-word-after-a-quote"),
    pytest.param("A sign and Bob.", [LintFinding("name", "Bob", 0)], id="a-name-inside-a-sentence"),
])
def test_names_are_not_sentence_starts_or_nationalities(text: str, expected: list[LintFinding]) -> None:
    assert lint(text, "en", 1, 200) == expected


def test_dates_and_measurements_the_picture_shows_are_facts() -> None:
    text = "A chart of 2024 with Search 45% and 5 km."
    assert lint(text, "en", 1, 200, given='- right: "Search 45%"\n- top: "Sales in 2024"') == [LintFinding("measurement", "5 km", 0)]
    assert [f.rule for f in lint(text, "en", 1, 200)] == ["measurement", "measurement", "date", "name"]


@pytest.mark.parametrize(("text", "instructions", "evidence", "language", "echo"), [
    pytest.param("A brown horse stands in a field next to a fence.", "A brown horse stands in a field next to a fence, grazing.",
                 "a horse in a field", "en", "a brown horse stands in a", id="copies-an-example"),
    pytest.param("Not known from the picture (say nothing about it): where it is.",
                 "Not known from the picture (say nothing about it): where it is", "a plane in the sky", "en", "not known from the picture say",
                 id="copies-an-instruction"),
    pytest.param("Screenshot with the text Settings, General, Choose how we contact you.",
                 "It left out visible text: Settings; General; Choose how we contact you. Include it.", "Settings\nGeneral\nChoose how we contact you.",
                 "en", None, id="the-pictures-own-text-is-not-an-echo"),
    pytest.param("A man and his dog cross country skiing.", "Caption: a man and his dog cross country skiing", "a man and his dog cross country skiing",
                 "en", None, id="restating-the-caption"),
    pytest.param("界面截图，文字是登录，左侧是欢迎回来。", "界面截图，文字是重命名文件？和输入新名称", "界面截图\n登录\n欢迎回来", "zh", None, id="zh-framing"),
    pytest.param("从画面中无法得知（不要描述）在什么地方。", "从画面中无法得知（不要描述）：在什么地方", "a dog", "zh", "从画面中无法得知", id="zh-instruction"),
])
def test_prompt_echo(text: str, instructions: str, evidence: str, language: str, echo: str | None) -> None:
    from alttext.pipeline.clean import echo as find

    found = find(text, instructions, evidence, language)
    assert (found.detail if found else None) == echo
    assert found is None or (found.rule, found.sentence) == ("prompt-echo", -1)


def test_scrub_takes_out_subjective_words() -> None:
    from alttext.pipeline.clean import scrub

    assert scrub("a pretty lady on a beautiful beach", "en") == "a lady on a beach"
    assert scrub("一只可爱的狗", "zh") == "一只可爱的狗"  # English captions only


def test_terminal_sequences_are_not_words() -> None:
    # "\x1b[0m" once read as "0m", a measurement, and cost the sentence.
    assert clean("A dog\x1b[31m on the grass\x1b[0m.\x9b31m") == "A dog on the grass."
