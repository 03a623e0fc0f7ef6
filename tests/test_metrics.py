from __future__ import annotations

import pytest

from alttext.eval.metrics import PASS_KER, invented, key_element_recall

ELEMENTS = ["dog", "grass", "frisbee", "boy", ["running", "runs"], "outdoors"]


@pytest.mark.parametrize(
    ("text", "elements", "expected"),
    [
        pytest.param("A boy runs with a dog on the grass outdoors. A frisbee flies.", ELEMENTS, 1.0, id="all"),
        pytest.param("A boy runs with a dog on the grass outdoors.", ELEMENTS, 5 / 6, id="five-of-six-passes"),
        pytest.param("Dogs on grass.", ELEMENTS, 2 / 6, id="plural-and-stem"),
        pytest.param("A dog.", [["puppy", "dog"]], 1.0, id="synonym-list"),
        pytest.param("A red bus.", ["double decker"], 0.0, id="phrase-needs-every-word"),
        pytest.param("anything", [], 1.0, id="no-elements"),
        pytest.param("一只狗在草地上奔跑。", ["狗", "草地", ["飞盘", "盘子"]], 2 / 3, id="chinese-substring"),
    ],
)
def test_key_element_recall(text: str, elements: list[str | list[str]], expected: float) -> None:
    assert key_element_recall(text, elements) == pytest.approx(expected)


def test_pass_threshold() -> None:
    assert key_element_recall("A boy runs with a dog on the grass outdoors.", ELEMENTS) >= PASS_KER
    assert key_element_recall("A boy with a dog on the grass outdoors.", ELEMENTS) < PASS_KER


@pytest.mark.parametrize(
    ("text", "evidence", "words", "content"),
    [
        pytest.param("A woman sits on a red sofa.", ["a woman sitting on a couch"], ("red", "sofa"), 4, id="english"),
        pytest.param("A woman sits on a sofa.", ["a woman sitting on a couch", "a lady on a sofa"], (), 3, id="a-reference-supports"),
        pytest.param("一只狗在草地上。狗的眼睛里充满了喜悦。", ["一只狗在草地上"], ("眼睛", "充满", "喜悦"), 6, id="chinese"),
        pytest.param("", ["a dog"], (), 0, id="empty"),
    ],
)
def test_invented(text: str, evidence: list[str], words: tuple[str, ...], content: int) -> None:
    found = invented(text, evidence)
    assert (found.words, found.content) == (words, content)
    assert found.share == (len(words) / content if content else 0.0)
