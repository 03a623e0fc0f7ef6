"""The captioner on any OpenAI-compatible chat server that accepts images: vLLM serving
Qwen2.5-VL, Ollama with qwen2.5vl, llava or moondream, llama.cpp's server with an ``--mmproj``.

Each picture goes in its own chat request, as a base64 data URL, with the vision prompt: visual
facts only (objects, their colours and positions, visible text, the kind of image), no style and no
interpretation. Pictures are shrunk to ``MAX_SIDE`` pixels on their longest side and ``MAX_BYTES``
encoded; flat ones (screenshots, charts, logos, text) go as PNG, which keeps their text sharp,
photos as JPEG. An SVG is not sent: alttext describes it from its own text. Up to ``concurrency``
requests are in flight. The answer is cleaned (``clean.clean``) and is the picture's caption: the
evidence the writer writes from and the grounding guard checks against, as BLIP's caption is.
Requests go to the configured base URL only; errors are the writer's one-line errors, and a model
that takes no images gets its own.
"""

from __future__ import annotations

import base64
import io
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from alttext import messages
from alttext.pipeline.images import ImageError, LoadedImage, load_image, load_image_file
from alttext.pipeline.interface import CaptionerBase
from alttext.pipeline.clean import clean
from alttext.pipeline.writer_openai import OpenAIEndpoint, OpenAISettings

# Changed whenever the prompt changes what the captions say: cached descriptions then go stale.
VISION_PROMPT_VERSION = "vision-facts/1"
VISION_PROMPT = (
    "Describe only what is visible in this image, for someone who cannot see it. In at most three short sentences "
    "(under 60 words), say what kind of image it is (photo, screenshot, chart, diagram, logo, drawing or text); "
    "the main objects or people, their colours and where they are in the picture; and any text in it, quoted exactly. "
    "State facts only: no style, mood, quality or interpretation, no guesses about who anyone is, what they feel or why, "
    "and no names unless they are written in the image. Begin with the facts, not with \"The image shows\"."
)
MAX_SIDE = 1024  # pixels, the longest side: what vision models resize to, or more
MAX_BYTES = 1_000_000  # the encoded picture, before base64 (which adds a third)
CAPTION_TOKENS = 120  # an answer of 60 words, and room for a model that runs on a little
CAPTION_CHARS = 320  # the cleaned caption ends on a full sentence within this
_FLAT_COLOURS = 4096  # a picture with no more colours than this is drawn, not photographed: PNG
# A list item on its own line ("- a red door", "2. a white wall"): one sentence of the caption.
_LIST_ITEM = re.compile(r"(?m)^[ \t]*(?:[-*•]|\d+[.)])[ \t]+(.*?)[.;,]?[ \t]*$")


def vision_settings(base_url: str, model: str, *, timeout: float = 60.0, retries: int = 2, concurrency: int = 4) -> OpenAISettings:
    """The request settings for captions: greedy (the same picture gives the same facts)."""
    return OpenAISettings(base_url=base_url, model=model, temperature=0.0, top_p=1.0, max_tokens=CAPTION_TOKENS, timeout=timeout,
                          retries=retries, concurrency=concurrency)


class OpenAICaptioner(CaptionerBase):
    def __init__(self, settings: OpenAISettings, key: str | None = None, batch_size: int = 8, max_side: int = MAX_SIDE,
                 max_bytes: int = MAX_BYTES, prompt: str = VISION_PROMPT) -> None:
        self.endpoint = OpenAIEndpoint(settings, key)
        # A batch keeps every request slot busy.
        self.batch_size = max(1, batch_size, settings.concurrency)
        self.max_side, self.max_bytes, self.prompt = max_side, max_bytes, prompt

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        """One cleaned caption per picture (a PIL image, a ``LoadedImage``, an image file's path or
        bytes), in order. ``prompt`` replaces the vision prompt. Every picture is encoded before
        the first request: one that cannot be sent (an SVG) raises ``ImageError`` and sends nothing."""
        question = prompt or self.prompt
        urls = [data_url(picture(image), self.max_side, self.max_bytes) for image in images]
        return self.endpoint.each(lambda url: self._ask(url, question), urls)

    def caption_pair(self, images: Sequence[Any], prompt: str,
                     wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str, str | None]]:
        # The one answer already names the subject, the scene and what is happening: no second request.
        return [(text, None) for text in self.caption(images)]

    def _ask(self, url: str, question: str) -> str:
        conversation = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": question}]}]
        return clean(_LIST_ITEM.sub(r"\1.", self.endpoint.chat(conversation, images=True)), "en", CAPTION_CHARS)


def picture(image: Any) -> Any:
    """The PIL image to send for ``image``; ``ImageError`` for an SVG or a file that is no image."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, LoadedImage):
        loaded = image
    elif isinstance(image, (str, os.PathLike)):
        name = os.fspath(image)
        if name.lower().endswith(".svg"):
            raise ImageError(messages.CAPTIONER_SVG.format(name=name))
        loaded = load_image_file(name, max_side=MAX_SIDE)
    elif isinstance(image, bytes):
        loaded = load_image(image, "(bytes)", max_side=MAX_SIDE)
    else:
        raise TypeError(messages.CAPTIONER_NOT_IMAGE.format(name=repr(image)[:60], kind=type(image).__name__))
    if loaded.image is None:  # an SVG: it carries its own text, which is what alttext reads
        raise ImageError(messages.CAPTIONER_SVG.format(name=loaded.name))
    return loaded.image


def data_url(image: Any, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES) -> str:
    """``image`` as a ``data:`` URL of at most ``max_side`` pixels a side and ``max_bytes`` encoded:
    PNG for a flat picture that fits, else JPEG at falling quality, then smaller."""
    from PIL import Image

    im = _rgb(image)
    if max(im.size) > max_side:
        im = im.copy()
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    flat = im.getcolors(_FLAT_COLOURS) is not None
    while True:
        if flat:
            data = _encode(im, "PNG")
            if len(data) <= max_bytes:
                return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        for quality in (90, 80, 70, 55):
            data = _encode(im, "JPEG", quality=quality)
            if len(data) <= max_bytes or max(im.size) <= 16:
                return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        im = im.resize((max(1, im.width * 3 // 4), max(1, im.height * 3 // 4)), Image.Resampling.LANCZOS)


def _rgb(image: Any) -> Any:
    """RGB, with transparent parts laid on white (as a page most often shows them)."""
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA", "P", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _encode(image: Any, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()
