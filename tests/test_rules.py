from __future__ import annotations

import pytest

from alttext import messages
from alttext.scan.rules import available_languages, weak_reason
from tests.helpers import found

WEAK = [
    pytest.param("image", "a.png", messages.WEAK_VAGUE, id="vague"),
    pytest.param("An Image.", "a.png", messages.WEAK_VAGUE, id="vague-article-case-punctuation"),
    pytest.param("screenshot", "a.png", messages.WEAK_VAGUE, id="screenshot"),
    pytest.param("cat.png", "img/cat.png", messages.WEAK_FILENAME, id="file-name"),
    pytest.param("cat", "img/cat.png?v=2", messages.WEAK_FILENAME, id="file-stem-with-query"),
    pytest.param("my photo.jpeg", "x.png", messages.WEAK_EXTENSION, id="ends-in-extension"),
    pytest.param("TODO", "a.png", messages.WEAK_PLACEHOLDER, id="placeholder"),
    pytest.param("alt text", "a.png", messages.WEAK_PLACEHOLDER, id="placeholder-phrase"),
    pytest.param("Image of a cat", "a.png", messages.WEAK_PREFIX.format(prefix="image of"), id="prefix"),
    pytest.param("A picture of a dog", "a.png", messages.WEAK_PREFIX.format(prefix="a picture of"), id="longest-prefix"),
]


@pytest.mark.parametrize(("alt", "src", "reason"), WEAK)
def test_weak(alt: str, src: str, reason: str) -> None:
    assert weak_reason(alt, src, ("en",)) == reason


GOOD = [
    pytest.param("A tabby cat asleep on a blue sofa", "cat.png", id="descriptive"),
    pytest.param("Imagery of the coast", "a.png", id="word-starting-like-prefix"),
    pytest.param("Icons used in the toolbar: save, open, print", "a.png", id="vague-word-inside-sentence"),
    pytest.param("Photograph archive entrance", "a.png", id="prefix-word-without-of"),
]


@pytest.mark.parametrize(("alt", "src"), GOOD)
def test_not_weak(alt: str, src: str) -> None:
    assert weak_reason(alt, src, ("en",)) is None


def test_chinese_word_list() -> None:
    assert weak_reason("图片", "a.png", ("zh",)) == messages.WEAK_VAGUE
    assert weak_reason("图片显示一只猫", "a.png", ("zh",)) == messages.WEAK_PREFIX.format(prefix="图片显示")
    assert weak_reason("图片", "a.png", ("en",)) is None
    assert available_languages() == ["en", "zh"]


STRICT = [
    pytest.param('<img src="a.png" alt="image">', "html", [(1, 1, "ALT002")], id="html-weak"),
    pytest.param("![photo](a.png)", "markdown", [(1, 1, "ALT002")], id="markdown-weak"),
    pytest.param('<img src="a.png" alt="">', "html", [], id="decorative-is-not-weak"),
    pytest.param('<img src="a.png" alt="{{ page.image_alt }}">', "html", [], id="template-is-not-weak"),
    pytest.param("<!-- alttext: ignore -->\n![image](a.png)", "markdown", [], id="ignore-silences-strict"),
    pytest.param(
        "<!-- alttext: decorative -->\n![image](a.png)", "markdown", [(2, 1, "ALT002")], id="decorative-marker-only-for-missing"
    ),
]


@pytest.mark.parametrize(("text", "kind", "expected"), STRICT)
def test_strict(text: str, kind: str, expected: list[tuple[int, int, str]]) -> None:
    assert found(text, kind, strict=True) == expected
    assert found(text, kind) == []
