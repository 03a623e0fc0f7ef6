"""Stage 3: does the evidence give the three elements a base description needs?

- subject: who or what ("a dog", "两个男孩");
- scene: where ("on the grass", "在公园里");
- state: doing what, or how it looks ("running", "正在奔跑", "red").

Word-level heuristics tuned to BLIP-style captions. A missing element is never invented: where
the first caption and the page both leave one out, the captioner is asked for a second caption,
which is kept only then (``describe``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EN_SUBJECT = re.compile(
    r"\b(?:a|an|the|one|two|three|four|five|several|some|many|group of|pair of|people|person|man|woman|men|women"
    r"|boy|girl|child|children|dog|cat|bird|car|building|house|tree|sign|logo|chart|graph|diagram|screenshot)\b",
    re.IGNORECASE,
)
_EN_SCENE = re.compile(
    r"\b(?:in|on|at|inside|outside|near|by|under|over|beside|behind|above|below|along|across|through|next to"
    r"|in front of)\s+(?:a|an|the|his|her|their|its|some|front)?\s*\w+"
    r"|\b(?:outdoors|indoors|outside|inside|background|street|beach|room|kitchen|park|field|sky|water|forest|city"
    r"|road|desk|table|stage|office|garden|mountain|snow|grass)\b",
    re.IGNORECASE,
)
_EN_NOT_VERBS = frozenset(
    "ceiling building painting clothing morning evening ring king thing something nothing anything everything"
    " string spring wing swing sing sibling pudding wedding bedding railing awning icing stuffing sling".split()
)
_EN_STATE = re.compile(
    r"\b(?:is|are|sits|stands|holds|lies|looks|runs|walks|plays|wears|carries|shows|reads|rides|eats|flies"
    r"|red|orange|yellow|green|blue|purple|pink|brown|black|white|gray|grey|empty|open|closed|full|lit|dark"
    r"|bright|old|new|broken|wet|dry|covered|filled|parked|stacked|smiling)\b",
    re.IGNORECASE,
)
_EN_ING = re.compile(r"\b([a-z]{3,}ing)\b", re.IGNORECASE)

_ZH_SUBJECT = re.compile(r"[一二两三四五六七八九十几多][个只位辆张条名群头匹棵栋座把件台本幅扇间朵盏块片杯碗双对架艘]|人|男|女|孩|狗|猫|鸟|车|树|楼|房|图表|标志")
_ZH_SCENE = re.compile(r"在.{1,8}?[上中里下旁前后边内外]|街|海|房间|公园|草地|天空|山|水|城市|室内|室外|背景|桌|路")
_ZH_STATE = re.compile(r"着|正在|[跑走坐站飞吃玩看拿躺骑笑]|[红橙黄绿蓝紫粉棕黑白灰]色|空的|打开|关着|亮")


@dataclass(frozen=True)
class Elements:
    subject: bool
    scene: bool
    state: bool

    def missing(self) -> tuple[str, ...]:
        return tuple(name for name, given in (("subject", self.subject), ("scene", self.scene), ("state", self.state)) if not given)


def check(text: str, language: str = "en") -> Elements:
    if language == "zh":
        return Elements(bool(_ZH_SUBJECT.search(text)), bool(_ZH_SCENE.search(text)), bool(_ZH_STATE.search(text)))
    ing = any(m.group(1).lower() not in _EN_NOT_VERBS for m in _EN_ING.finditer(text))
    return Elements(bool(_EN_SUBJECT.search(text)), bool(_EN_SCENE.search(text)), ing or bool(_EN_STATE.search(text)))


def combined(texts: list[str], language: str = "en") -> Elements:
    """The elements any of the pieces of evidence gives."""
    found = [check(t, language) for t in texts if t.strip()]
    return Elements(any(e.subject for e in found), any(e.scene for e in found), any(e.state for e in found))
