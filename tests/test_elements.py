from __future__ import annotations

import pytest

from alttext.pipeline.elements import Elements, check, combined

EN = [
    pytest.param("a dog running on the grass", Elements(True, True, True), id="all-three"),
    pytest.param("a man sitting on a bench in a park", Elements(True, True, True), id="bench"),
    pytest.param("a red door", Elements(True, False, True), id="no-scene"),
    pytest.param("a close up of a building", Elements(True, False, False), id="building-is-not-a-verb"),
    pytest.param("two people in the snow", Elements(True, True, False), id="no-state"),
    pytest.param("blurry", Elements(False, False, False), id="nothing"),
]


@pytest.mark.parametrize(("caption", "expected"), EN)
def test_english(caption: str, expected: Elements) -> None:
    assert check(caption, "en") == expected


ZH = [
    pytest.param("一只狗正在草地上奔跑", Elements(True, True, True), id="all-three"),
    pytest.param("一扇红色的门", Elements(True, False, True), id="no-scene"),
    pytest.param("两个人在雪地里", Elements(True, True, False), id="no-state"),
]


@pytest.mark.parametrize(("caption", "expected"), ZH)
def test_chinese(caption: str, expected: Elements) -> None:
    assert check(caption, "zh") == expected


def test_missing_and_combined() -> None:
    assert check("a red door", "en").missing() == ("scene",)
    assert combined(["a red door", "a house on a street"], "en").missing() == ()
    assert combined(["", "blurry"], "en").missing() == ("subject", "scene", "state")
