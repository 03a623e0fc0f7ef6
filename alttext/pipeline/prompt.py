"""The blind-reader editor prompt. Versioned: every result records PROMPT_VERSION.

The writer is a text model: it cannot see the image. So the prompt hands it the visual facts
between VISION_START and VISION_END, says what is unknown, labels the page context as context,
and asks for colours, materials and positions only where the facts state them.
"""

from __future__ import annotations

from dataclasses import dataclass

PROMPT_VERSION = "blind-reader-editor/2"
LANGUAGES = ("en", "zh")
# Characters of alt text to aim for. English guidance is about 125 characters, one or two sentences;
# Chinese carries about twice the information per character.
DEFAULT_LENGTH = {"en": 125, "zh": 60}


@dataclass(frozen=True)
class Facts:
    """What is known about the picture itself."""

    caption: str  # the base caption, or the text an SVG carries
    details: tuple[str, ...] = ()  # further evidence about the picture (a second caption, SVG text)
    unknown: tuple[str, ...] = ()  # elements the evidence does not establish: subject, scene, state


@dataclass(frozen=True)
class Context:
    """Where the image stands on the page. Helps choose what matters; never a visual fact."""

    page_title: str = ""
    heading: str = ""
    sentence: str = ""
    figcaption: str = ""
    link_target: str = ""
    title_attribute: str = ""
    file_name: str = ""

    def items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in vars(self).items() if v.strip()]


@dataclass(frozen=True)
class Budget:
    target: int
    minimum: int
    maximum: int


def budget(language: str, length: int | None = None) -> Budget:
    target = length or DEFAULT_LENGTH[language]
    return Budget(target, max(1, round(target * 0.5)), round(target * 1.5))


def resolve_language(setting: str, page_language: str = "") -> str:
    """``auto`` follows ``<html lang>`` or front-matter ``lang``; anything not Chinese is English."""
    if setting != "auto":
        return setting
    return "zh" if page_language.strip().lower().startswith("zh") else "en"


_SYSTEM_EN = """\
You are a photo-magazine editor who writes image descriptions for blind readers.
Rewrite the visual facts between VISION_START and VISION_END as alt text.
Rules:
1. Keep spatial order, left to right, then top to bottom, with only the positions the visual facts give.
2. One object or feature per sentence.
3. Name colours, materials and relative positions ("on the left", "above") only when the visual facts state them; if they do not, leave them out. Never add a detail that the visual facts do not give: every sentence that says more than the facts is removed.
4. No metaphors and no abstract or subjective words: use perceivable facts instead.
5. No brand names, personal names, dates or measurements.
6. Plain text only: no opening such as "This image shows", no labels, no quotes, no markdown.
7. Length: about {target} characters, at most {maximum}, at least {minimum}.
The page context helps you decide what matters. Do not repeat it, and do not describe anything from it that the visual facts do not show."""

_SYSTEM_ZH = """\
Core instruction: You are a photo-magazine editor writing alt text for blind readers. Rewrite only the visual facts between VISION_START and VISION_END, in Chinese, without adding any detail they do not give.
你是一名为盲人读者撰写图片描述的图片杂志编辑。请把 VISION_START 与 VISION_END 之间的视觉事实改写成替代文本。
要求：
1. 按空间顺序描述：从左到右，从上到下，只用视觉事实给出的位置。
2. 每句只写一个物体或特征。
3. 只有在视觉事实写明时，才写颜色、材质和相对位置（“左边”“上方”）；没有写明就不写。不要添加视觉事实没有给出的细节：多于事实的句子会被删除。
4. 不用比喻，不用抽象或主观的词语，改用可感知的事实。
5. 不写品牌名、人名、日期或尺寸数字。
6. 只输出纯文本：不要以“这张图片显示”开头，不要标签、引号或 Markdown。
7. 长度：约 {target} 个字，最多 {maximum} 个字，最少 {minimum} 个字。
页面上下文帮助你判断重点。不要复述它，也不要描述视觉事实中没有的内容。"""

_LABELS = {
    "en": {
        "page_title": "Page title",
        "heading": "Nearest heading",
        "sentence": "Sentence around the image",
        "figcaption": "Figure caption",
        "link_target": "The image is the only content of a link to",
        "title_attribute": "Title attribute",
        "file_name": "File name",
        "subject": "who or what is shown",
        "scene": "where it is",
        "state": "what is happening or how it looks",
        "unknown": "Not known from the picture (say nothing about it)",
        "context": "Page context (for choosing what matters; not visual facts, do not repeat)",
        "task": "Write the alt text.",
        "feedback": "Your previous answer broke these rules; write it again without breaking them:",
    },
    "zh": {
        "page_title": "页面标题",
        "heading": "最近的标题",
        "sentence": "图片所在的句子",
        "figcaption": "图注",
        "link_target": "图片是链接的唯一内容，链接指向",
        "title_attribute": "title 属性",
        "file_name": "文件名",
        "subject": "画面中是谁或什么",
        "scene": "在什么地方",
        "state": "在做什么或是什么样子",
        "unknown": "从画面中无法得知（不要描述）",
        "context": "页面上下文（用于判断重点，不是视觉事实，不要复述）",
        "task": "请写出替代文本。",
        "feedback": "你上一次的回答违反了以下规则，请重写且不要违反：",
    },
}


def build_messages(
    facts: Facts,
    context: Context,
    language: str = "en",
    length: int | None = None,
    feedback: tuple[str, ...] = (),
) -> list[dict[str, str]]:
    """Chat messages for the writer. ``feedback`` lists the rules a previous answer broke."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    labels = _LABELS[language]
    colon = "：" if language == "zh" else ": "
    b = budget(language, length)
    system = (_SYSTEM_EN if language == "en" else _SYSTEM_ZH).format(
        target=b.target, maximum=b.maximum, minimum=b.minimum
    )
    vision = ["VISION_START", facts.caption.strip(), *(d.strip() for d in facts.details if d.strip())]
    if facts.unknown:
        vision.append(labels["unknown"] + colon + ("；" if language == "zh" else "; ").join(labels[u] for u in facts.unknown))
    vision.append("VISION_END")
    parts = ["\n".join(vision)]
    if context.items():
        parts.append(labels["context"] + colon.strip() + "\n" + "\n".join(f"- {labels[k]}{colon}{v.strip()}" for k, v in context.items()))
    if feedback:
        parts.append(labels["feedback"] + "\n" + "\n".join(f"- {f}" for f in feedback))
    parts.append(labels["task"])
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def render(messages: list[dict[str, str]]) -> str:
    """A readable dump of the messages (golden files, ``--format json``)."""
    return "".join(f"[{m['role']}]\n{m['content']}\n\n" for m in messages)
