"""OpenAI-compatible servers: vLLM, SGLang, Ollama, llama.cpp, OpenAI. The shared client
(``OpenAIEndpoint``: one server and model, its replies checked, its errors explained) and the
writer on it; the captioner on it is ``captioner_openai``.

Requests go out concurrently up to ``concurrency``; the client retries timeouts, 429 and 5xx with
exponential backoff. Errors are one line that says what to do. Nothing is sent anywhere but the
configured base URL.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from alttext import messages
from alttext.pipeline.interface import BackendError, WriterBase

T = TypeVar("T")
R = TypeVar("R")


class ServerError(BackendError):
    """An OpenAI-compatible server (the writer's or the captioner's) cannot be used; ``str()``
    says what to do."""


WriterError = ServerError  # the name the commands and tests catch

# What servers answer when the model takes no images (llama.cpp without --mmproj: "image input is
# not supported"; vLLM: "is not a multimodal model"; LM Studio: "Model does not support images";
# OpenAI: "image_url is only supported by certain models"; Ollama: "missing data required for
# image input").
_NO_IMAGES = re.compile(
    r"(image|vision|multi-?modal)\w*( input)? (is|are) not supported|not a multi-?modal model|image_url is only supported"
    r"|(does not|doesn't|do not|cannot|can't) (support|accept|handle|process) (image|vision|multi-?modal)|required for image input|mmproj",
    re.IGNORECASE,
)
_MODEL_PROBLEM = re.compile(r"(?:model|engine)\b[^.]{0,80}\b(?:not found|does not exist|not exist|unknown|invalid|not available|no such)"
                            r"|(?:unknown|invalid|no such)\s+model", re.IGNORECASE)


def normalise_base_url(url: str) -> str:
    """``http://host:8000``, ``…/v1`` and ``…/v1/`` all mean ``http://host:8000/v1``."""
    url = url.strip().rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def api_key(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    # Local servers accept anything; "EMPTY" is what vLLM's documentation uses.
    return environ.get("ALTTEXT_API_KEY") or environ.get("OPENAI_API_KEY") or "EMPTY"


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str
    model: str
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 160  # an alt text of 187 characters is about 50 tokens; a rambling answer stops here
    timeout: float = 60.0
    retries: int = 2
    concurrency: int = 4


class OpenAIEndpoint:
    """One model on one OpenAI-compatible server: the client, chat completions whose replies are
    checked, up to ``concurrency`` requests at once, and errors as one line that says what to do."""

    def __init__(self, settings: OpenAISettings, key: str | None = None) -> None:
        self.settings = settings
        self.base_url = normalise_base_url(settings.base_url)
        self._key = key or api_key()
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(
                base_url=self.base_url, api_key=self._key, timeout=self.settings.timeout, max_retries=self.settings.retries
            )
        return self._client

    def _thinking_off(self) -> dict[str, Any]:
        # OpenAI itself rejects unknown fields; open servers read one switch or the other.
        if urlsplit(self.base_url).hostname == "api.openai.com":
            return {}
        return {"chat_template_kwargs": {"enable_thinking": False}, "enable_thinking": False}

    def chat(self, conversation: Sequence[Mapping[str, Any]], seed: int | None = None, images: bool = False) -> str:
        """The answer to one conversation. ``images``: the conversation carries pictures (a model
        that takes none then gets its own error)."""
        s = self.settings
        extra: dict[str, Any] = {"seed": seed} if seed is not None else {}
        try:
            # The raw body: openai's models accept anything without checking it (an empty
            # ``choices``, an object as ``content``), so the shape is checked here.
            response = self.client.chat.completions.with_raw_response.create(
                model=s.model,
                messages=list(conversation),
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=s.max_tokens,
                extra_body=self._thinking_off(),
                **extra,
            )
        except Exception as exc:  # openai's errors, turned into one actionable line
            raise self._explain(exc, images) from None
        try:
            return _answer(json.loads(response.content))
        except RecursionError:
            raise ServerError(messages.WRITER_MALFORMED.format(base_url=self.base_url, reason="nested too deeply")) from None
        except ValueError as exc:
            raise ServerError(messages.WRITER_MALFORMED.format(base_url=self.base_url, reason=_reason(exc))) from None

    def each(self, work: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``work`` on every item, in order, with up to ``concurrency`` at once."""
        items = list(items)
        if len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max(1, self.settings.concurrency)) as pool:
            return list(pool.map(work, items))

    def models(self) -> list[str]:
        try:
            return sorted(m.id for m in self.client.models.list())
        except Exception:
            return []

    def _explain(self, exc: Exception, images: bool = False) -> ServerError:
        import openai

        base = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            return ServerError(messages.WRITER_TIMEOUT.format(base_url=base, timeout=self.settings.timeout))
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            # The HTTP client's ConnectError (httpx's, or httpx2's in newer openai releases) means
            # nothing answered; any other error came after the server took the connection: it
            # stopped or crashed in the middle of the request.
            if any(c.__name__ in ("ConnectError", "ConnectTimeout") for c in type(cause).__mro__) or cause is exc:
                return ServerError(messages.WRITER_CONNECT.format(base_url=base, reason=reason))
            return ServerError(messages.WRITER_DROPPED.format(base_url=base, reason=reason))
        if isinstance(exc, openai.AuthenticationError):
            return ServerError(messages.WRITER_UNAUTHORIZED.format(base_url=base))
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if images and isinstance(exc, openai.APIStatusError) and _NO_IMAGES.search(reason):
            return ServerError(messages.CAPTIONER_NO_IMAGES.format(model=self.settings.model, base_url=base))
        # A 400 is about the model only when it says so (a context-length error is not, even
        # from a server that lists another name: llama.cpp serves its one model under any name).
        about_model = isinstance(exc, openai.NotFoundError) or bool(_MODEL_PROBLEM.search(reason))
        if isinstance(exc, (openai.NotFoundError, openai.BadRequestError)) and about_model:
            offered = self.models()
            if offered and self.settings.model not in offered:
                return ServerError(messages.WRITER_UNKNOWN_MODEL.format(base_url=base, model=self.settings.model, models=", ".join(offered)))
            if isinstance(exc, openai.NotFoundError):
                return ServerError(messages.WRITER_NOT_FOUND.format(url=base + "/chat/completions"))
        return ServerError(messages.WRITER_FAILED.format(base_url=base, reason=reason))


class OpenAIWriter(WriterBase, OpenAIEndpoint):
    """The writer on an OpenAI-compatible server."""

    def complete(self, conversation: Sequence[Mapping[str, str]], seed: int | None = None) -> str:
        return self.chat(conversation, seed)

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None] | None = None) -> list[str]:
        """One answer per conversation, in order, with up to ``concurrency`` requests at once."""
        seeds = list(seeds) if seeds is not None else [None] * len(conversations)
        return self.each(lambda job: self.complete(*job), zip(conversations, seeds))


def _answer(body: Any) -> str:
    """The first choice's text in a chat completion; ValueError saying what is wrong with it."""
    if not isinstance(body, dict):
        raise ValueError(f"the body is {_json_kind(body)}, not an object")
    choices = body.get("choices")
    if not choices:
        raise ValueError("it has no choices")
    if not isinstance(choices, list):
        raise ValueError(f"its choices are {_json_kind(choices)}, not a list")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise ValueError("its first choice has no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ValueError(f"the message content is {_json_kind(content)}, not a string")
    return content or ""  # no text at all (a refusal, a tool call) is an empty answer


def _reason(exc: ValueError) -> str:
    return "the body is not JSON" if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) else str(exc)


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    return "null" if value is None else "a number"
