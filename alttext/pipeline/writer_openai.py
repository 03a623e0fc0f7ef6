"""The writer on any OpenAI-compatible server: vLLM, SGLang, Ollama, llama.cpp, OpenAI.

Requests go out concurrently up to ``concurrency``; the client retries timeouts, 429 and 5xx with
exponential backoff. Errors are one line that says what to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from alttext import messages


class WriterError(Exception):
    """The backend cannot be used; ``str()`` says what to do."""


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


class OpenAIWriter:
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

    def complete(self, conversation: Sequence[Mapping[str, str]], seed: int | None = None) -> str:
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
            raise self._explain(exc) from None
        try:
            return _answer(json.loads(response.content))
        except RecursionError:
            raise WriterError(messages.WRITER_MALFORMED.format(base_url=self.base_url, reason="nested too deeply")) from None
        except ValueError as exc:
            raise WriterError(messages.WRITER_MALFORMED.format(base_url=self.base_url, reason=_reason(exc))) from None

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None] | None = None) -> list[str]:
        """One answer per conversation, in order, with up to ``concurrency`` requests at once."""
        seeds = list(seeds) if seeds is not None else [None] * len(conversations)
        if len(conversations) <= 1:
            return [self.complete(c, s) for c, s in zip(conversations, seeds)]
        with ThreadPoolExecutor(max(1, self.settings.concurrency)) as pool:
            return list(pool.map(self.complete, conversations, seeds))

    def models(self) -> list[str]:
        try:
            return sorted(m.id for m in self.client.models.list())
        except Exception:
            return []

    def _explain(self, exc: Exception) -> WriterError:
        import openai

        base = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            return WriterError(messages.WRITER_TIMEOUT.format(base_url=base, timeout=self.settings.timeout))
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return WriterError(messages.WRITER_CONNECT.format(base_url=base, reason=str(cause).splitlines()[0] or type(cause).__name__))
        if isinstance(exc, openai.AuthenticationError):
            return WriterError(messages.WRITER_UNAUTHORIZED.format(base_url=base))
        if isinstance(exc, (openai.NotFoundError, openai.BadRequestError)):
            offered = self.models()
            if offered and self.settings.model not in offered:
                return WriterError(messages.WRITER_UNKNOWN_MODEL.format(base_url=base, model=self.settings.model, models=", ".join(offered)))
            if isinstance(exc, openai.NotFoundError):
                return WriterError(messages.WRITER_NOT_FOUND.format(url=base + "/chat/completions"))
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return WriterError(messages.WRITER_FAILED.format(base_url=base, reason=reason))


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
