"""The two interfaces every backend implements (``Captioner``, ``Writer``), with base classes
that give each optional ability its plain default, and the error a backend raises when it cannot
be used. The registry that picks a backend by name is ``backends``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol


class BackendError(Exception):
    """A backend that cannot be used (a server that refuses, a model it does not have); ``str()``
    is one line that says what to do."""


class Captioner(Protocol):
    """Pictures in, short English descriptions of what they show out: evidence for the writer and
    the grounding guard."""

    @property
    def batch_size(self) -> int:
        """Pictures per call (the pipeline hands them over this many at a time)."""
        ...

    @property
    def loaded(self) -> bool:
        """Whether ``load`` has nothing left to do (the pipeline says so before a long load)."""
        ...

    def load(self) -> None: ...

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        """One caption per picture, in order; with ``prompt``, a caption that answers it (BLIP
        continues the text)."""
        ...

    def caption_pair(self, images: Sequence[Any], prompt: str,
                     wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str, str | None]]:
        """(plain caption, caption with ``prompt``) per picture; the second is None where
        ``wanted`` (the picture's index and plain caption) says it is not needed, or where the
        backend's one answer already says what a second would."""
        ...


class Writer(Protocol):
    """Chat conversations in (the blind-reader editor prompt), one answer each out."""

    @property
    def batch_size(self) -> int | None:
        """Conversations per call; None: the settings decide (``batch_size``, ``concurrency``)."""
        ...

    @property
    def loaded(self) -> bool: ...

    def load(self) -> None: ...

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None]) -> list[str]: ...

    def keep(self, rows: Sequence[int]) -> None:
        """Of the batch just written, the rows that will be written again (their retry), for a
        writer that can start a retry from what it kept of the first prompt."""
        ...

    def forget(self) -> None:
        """Drop whatever ``keep`` kept (the end of a run)."""
        ...


class CaptionerBase:
    """The plain defaults of ``Captioner``: nothing to load, and the second caption asked for
    with its own call. A subclass gives ``caption``."""

    batch_size: int = 8

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        return None

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        raise NotImplementedError

    def caption_pair(self, images: Sequence[Any], prompt: str,
                     wanted: Callable[[int, str], bool] | None = None) -> list[tuple[str, str | None]]:
        texts = self.caption(images)
        again = [k for k, text in enumerate(texts) if wanted is None or wanted(k, text)]
        more = dict(zip(again, self.caption([images[k] for k in again], prompt=prompt))) if again else {}
        return [(text, more.get(k)) for k, text in enumerate(texts)]


class WriterBase:
    """The plain defaults of ``Writer``: nothing to load, the settings' batch size, nothing kept
    between a batch and its retry. A subclass gives ``write``."""

    batch_size: int | None = None

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        return None

    def write(self, conversations: Sequence[Sequence[Mapping[str, str]]], seeds: Sequence[int | None]) -> list[str]:
        raise NotImplementedError

    def keep(self, rows: Sequence[int]) -> None:
        return None

    def forget(self) -> None:
        return None
