"""The blind-reader editor prompt. Versioned: every result records PROMPT_VERSION.

The writer is a text model: it cannot see the image. It gets the evidence as facts between
VISION_START and VISION_END (nothing in there reads as an instruction, because a small model copies
instructions into its answer), the page context apart and labelled as context, and a few short
worked examples of the same kind of image: facts in, alt text out. Examples teach a 0.6B model
more than rules do, and the rules it gets are few and short.
"""

from __future__ import annotations

from dataclasses import dataclass

from alttext.model import Context
from alttext.pipeline.evidence import Evidence

PROMPT_VERSION = "blind-reader-editor/3"
LANGUAGES = ("en", "zh")
# Characters of alt text to aim for. English guidance is about 125 characters, one or two sentences;
# Chinese carries about twice the information per character.
DEFAULT_LENGTH = {"en": 125, "zh": 60}


@dataclass(frozen=True)
class Budget:
    target: int
    minimum: int
    maximum: int


def budget(language: str, length: int | None = None, evidence: int | None = None) -> Budget:
    """The length budget. The maximum is the bound; the minimum follows the evidence: a short
    caption makes a short, true alt text (``evidence``: characters of evidence to restate)."""
    target = length or DEFAULT_LENGTH[language]
    minimum = max(1, round(target * 0.5))
    if evidence is not None:
        minimum = max(1, min(minimum, round(evidence * 0.5)))
    return Budget(target, minimum, round(target * 1.5))


def resolve_language(setting: str, page_language: str = "") -> str:
    """``auto`` follows ``<html lang>`` or front-matter ``lang``; anything not Chinese is English."""
    if setting != "auto":
        return setting
    return "zh" if page_language.strip().lower().startswith("zh") else "en"


_SYSTEM = {
    "en": """\
You write alt text for blind readers: the words a screen reader says in place of a picture.
You cannot see the picture. The facts between VISION_START and VISION_END are all that is known about it.
- Use only those facts. Leave out whatever they do not give; an invented detail misleads a reader who cannot check it.
- Follow the picture's order: left to right, top to bottom.
- Plain short sentences, one feature each. No metaphors, no opinions.
- No names of people or brands, dates or measurements, unless they are visible text.
- Repeat visible text exactly as it is written.
- Answer with the alt text alone: no opening such as "This image shows", no quotation marks, no markdown.
- At most {maximum} characters. When the facts are few, the answer is short.
The page context helps to choose what matters; it is not part of the picture.""",
    "zh": """\
你为盲人读者撰写替代文本：读屏软件在图片位置朗读的文字。
你看不到图片。VISION_START 与 VISION_END 之间的事实是关于它的全部信息。
- 只用这些事实。事实没有给出的内容一律不写；编造的细节会误导无法核实的读者。
- 按画面顺序：从左到右，从上到下。
- 用简短平实的句子，每句一个特征。不用比喻，不加评价。
- 不写人名、品牌、日期或尺寸，除非它们是图中的文字。
- 图中文字照原样写出。
- 只回答替代文本本身：不要以“这张图片显示”开头，不加引号，不用 Markdown。
- 最多 {maximum} 个字。事实少时，回答就短。
- 用中文写。图片说明是英文的，要译成中文。
页面上下文帮助判断重点，它不是图片的一部分。""",
}

_LABELS = {
    "en": {
        "page_title": "Page title",
        "heading": "Nearest heading",
        "sentence": "Sentence around the image",
        "figcaption": "Figure caption",
        "link_target": "The image is the only content of a link to",
        "title_attribute": "Title attribute",
        "file_name": "File name",
        "context": "Page context (not part of the picture)",
        "task": "Write the alt text.",
        "feedback": "Your previous answer was not usable:",
        "unsupported": "The facts do not give: {detail}. Leave that out.",
        "prompt-echo": "It copied words from the instructions or examples instead of describing this picture.",
        "language": "It was not written in English ({detail}).",
        "too-long": "It was too long ({detail}).",
        "too-short": "It was too short ({detail}).",
        "missing-text": "It left out visible text: {detail}. Include it as it is written.",
        "subject": "It did not say what the picture shows: {detail}.",
        "other": "It used {rule}: {detail}.",
    },
    "zh": {
        "page_title": "页面标题",
        "heading": "最近的标题",
        "sentence": "图片所在的句子",
        "figcaption": "图注",
        "link_target": "图片是链接的唯一内容，链接指向",
        "title_attribute": "title 属性",
        "file_name": "文件名",
        "context": "页面上下文（不是图片的一部分）",
        "task": "请写出替代文本。",
        "feedback": "你上一次的回答不能用：",
        "unsupported": "事实中没有：{detail}。不要写。",
        "prompt-echo": "它照抄了说明或示例，而不是描述这张图片。",
        "language": "它没有全用中文写（{detail}）。",
        "too-long": "太长了（{detail}）。",
        "too-short": "太短了（{detail}）。",
        "missing-text": "它漏掉了图中文字：{detail}。请照原样写进去。",
        "subject": "它没有说出画面中是什么：{detail}。",
        "other": "它用了{rule}：{detail}。",
    },
}

# Worked examples: (facts, context, alt text), by kind and language. Their subjects are unlike
# real pictures on purpose: an answer that copies one is caught (prompt echo, unsupported words).
_EXAMPLES: dict[str, dict[str, list[tuple[list[str], list[tuple[str, str]], str]]]] = {
    "en": {
        "photo": [
            (["Kind of image: photograph", "Caption: a brown horse standing in a field next to a fence",
              "Another caption: a picture of a horse grazing"], [], "A brown horse stands in a field next to a fence, grazing."),
            (["Kind of image: photograph", "Caption: two canoes on a lake"], [("heading", "Our summer trip")], "Two canoes on a lake."),
        ],
        "screenshot": [
            (["Kind of image: screenshot of a user interface", "Visible text, top to bottom:", '- title, top left: "Budget planner"',
              '- left: "Income"', '- left: "Expenses"', '- bottom right: "Add entry"', "Background: white",
              '"Add entry" is on a green box'], [],
             "Screenshot of Budget planner, with Income and Expenses on the left and a green Add entry box at the bottom right."),
            (["Kind of image: screenshot of a user interface", "Visible text, top to bottom:", '- top: "Rename file?"',
              '- centre: "Enter a new name"', '- right: "OK"', '"OK" is on a blue box'], [],
             "Screenshot with the text Rename file? and Enter a new name, and a blue OK box on the right."),
        ],
        "chart": [
            (["Kind of image: chart", "Visible text, top to bottom:", '- title, top: "Rainfall by season"', '- left: "100"',
              '- left: "50"', '- bottom left: "0"', '- bottom: "Spring"', '- bottom: "Summer"', '- bottom: "Autumn"', '- bottom: "Winter"'],
             [], "Chart titled Rainfall by season, labelled Spring, Summer, Autumn and Winter at the bottom and 0 to 100 on the left."),
            (["Kind of image: chart", "Visible text, top to bottom:", '- title, top: "Tickets by team"', '- right: "Support 60%"',
              '- right: "Sales 40%"', 'blue key: "Support 60%"', 'grey key: "Sales 40%"'], [],
             "Chart titled Tickets by team: Support 60% in blue and Sales 40% in grey."),
        ],
        "diagram": [
            (["Kind of image: diagram", "Visible text, top to bottom:", '- left: "Order placed"', '- centre: "Payment"',
              '- right: "Delivered"', '"Payment" is on a yellow box'], [],
             "Diagram with Order placed on the left, Payment on a yellow box in the centre and Delivered on the right."),
            (["Kind of image: diagram", "Visible text, top to bottom:", '- top: "Sensor"', '- centre: "Gateway"', '- bottom: "Cloud"'],
             [("heading", "How readings travel")], "Diagram with Sensor at the top, Gateway in the centre and Cloud at the bottom."),
        ],
        "text": [
            (["Kind of image: image of text", "Visible text, top to bottom:", '- centre: "Read the manual first,"', '- centre: "then ask."',
              "Background: purple"], [], "Read the manual first, then ask."),
        ],
        "logo": [
            (["Kind of image: logo or icon", "Visible text, top to bottom:", '- centre: "Northwind"', "Background: white"], [], "Northwind logo."),
            (["Kind of image: logo or icon", "Main colours: black"], [("link_target", "/cart")], "Cart."),
        ],
        "illustration": [
            (["Kind of image: illustration", "Caption: a cartoon of a cat sitting on a stack of books", "Main colours: orange, blue"], [],
             "Illustration of a cat sitting on a stack of books."),
        ],
    },
    "zh": {
        "photo": [
            (["图片类型：照片", "图片说明：a brown horse standing in a field next to a fence", "另一条说明：a picture of a horse grazing"], [],
             "一匹棕色的马站在田野里的栅栏旁吃草。"),
            (["图片类型：照片", "图片说明：two canoes on a lake"], [("heading", "我们的夏日旅行")], "湖上有两只独木舟。"),
        ],
        "screenshot": [
            (["图片类型：界面截图", "图中文字，从上到下：", "- 标题，左上：“家庭账本”", "- 左侧：“收入”", "- 左侧：“支出”", "- 右下：“记一笔”",
              "背景：白色", "“记一笔”在绿色的框上"], [], "家庭账本的界面截图，左侧是收入和支出，右下是绿色框上的记一笔。"),
            (["图片类型：界面截图", "图中文字，从上到下：", "- 上方：“重命名文件？”", "- 中间：“输入新名称”", "- 右侧：“确定”", "“确定”在蓝色的框上"], [],
             "界面截图，文字是重命名文件？和输入新名称，右侧蓝色的框上是确定。"),
        ],
        "chart": [
            (["图片类型：图表", "图中文字，从上到下：", "- 标题，上方：“各季度降雨量”", "- 左侧：“100”", "- 左下：“0”", "- 下方：“春”", "- 下方：“夏”",
              "- 下方：“秋”", "- 下方：“冬”"], [], "图表，标题是各季度降雨量，下方是春、夏、秋、冬，左侧是0和100。"),
        ],
        "diagram": [
            (["图片类型：示意图", "图中文字，从上到下：", "- 左侧：“下单”", "- 中间：“付款”", "- 右侧：“送达”", "“付款”在黄色的框上"], [],
             "示意图：左侧是下单，中间黄色框里是付款，右侧是送达。"),
        ],
        "text": [
            (["图片类型：文字图片", "图中文字，从上到下：", "- 中间：“先读说明书，”", "- 中间：“再提问。”", "背景：紫色"], [], "先读说明书，再提问。"),
        ],
        "logo": [
            (["图片类型：标志或图标", "图中文字，从上到下：", "- 中间：“北风”", "背景：白色"], [], "北风的标志。"),
            (["图片类型：标志或图标", "主要颜色：黑色"], [("link_target", "/cart")], "购物车。"),
        ],
        "illustration": [
            (["图片类型：插图", "图片说明：a cartoon of a cat sitting on a stack of books", "主要颜色：橙色、蓝色"], [], "一只猫坐在一摞书上的插图。"),
        ],
    },
}


def _user(facts: list[str], context: list[tuple[str, str]], language: str, feedback: tuple[str, ...] = ()) -> str:
    labels = _LABELS[language]
    colon = "：" if language == "zh" else ": "
    parts = ["\n".join(["VISION_START", *facts, "VISION_END"])]
    if context:
        parts.append(labels["context"] + colon.strip() + "\n" + "\n".join(f"- {labels[k]}{colon}{v.strip()}" for k, v in context))
    if feedback:
        parts.append(labels["feedback"] + "\n" + "\n".join(f"- {line}" for line in feedback))
    parts.append(labels["task"])
    return "\n\n".join(parts)


def examples(kind: str, language: str) -> list[tuple[list[str], list[tuple[str, str]], str]]:
    """The worked examples for a kind of image (a photograph's for a caption of unknown kind)."""
    table = _EXAMPLES[language]
    return table.get(kind) or table["photo"]


def feedback_lines(findings: list[tuple[str, str]], language: str) -> tuple[str, ...]:
    """What a previous answer did wrong, as the writer is told it: (rule, detail) pairs."""
    labels = _LABELS[language]
    out = []
    for rule, detail in findings:
        template = labels.get(rule, labels["other"])
        out.append(template.format(rule=rule, detail=detail))
    return tuple(dict.fromkeys(out))


def build_messages(
    evidence: Evidence,
    context: Context,
    language: str = "en",
    length: int | None = None,
    feedback: tuple[str, ...] = (),
) -> list[dict[str, str]]:
    """Chat messages for the writer: the rules, the worked examples for this kind of image, then
    this picture's facts. ``feedback`` says what a previous answer did wrong."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    b = budget(language, length, evidence.size(language))
    messages = [{"role": "system", "content": _SYSTEM[language].format(maximum=b.maximum)}]
    for facts, example_context, answer in examples(evidence.kind, language):
        messages.append({"role": "user", "content": _user(facts, example_context, language)})
        messages.append({"role": "assistant", "content": answer})
    # The file name is left out: it helps tell the kind of image, and small models copy it.
    page = [(k, v) for k, v in context.items() if k != "file_name"]
    messages.append({"role": "user", "content": _user(evidence.facts(language), page, language, feedback)})
    return messages


def instructions(messages: list[dict[str, str]]) -> str:
    """Everything in ``messages`` that is not this picture's own facts and context: the text an
    answer must not copy."""
    return "\n".join(m["content"] for m in messages[:-1])


def fixed_text(kind: str, language: str, length: int | None = None) -> str:
    """The instructions and examples a prompt for this kind of image holds, as ``instructions``
    gives them (for measuring copies of them in alt text)."""
    return instructions(build_messages(Evidence(kind=kind), Context(), language, length))
