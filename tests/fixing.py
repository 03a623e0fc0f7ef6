"""Test helpers for fix: a deterministic writer and an in-memory fix of one document."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from alttext.fixing.edit import Edit
from alttext.fixing.fix import Proposal, fixable, plan_file, scanned
from alttext.model import Settings
from alttext.pipeline.backends import CaptionerBase, WriterBase
from alttext.scan.files import Document


class EchoWriter(WriterBase):
    """Deterministic test writer: the caption among the visual facts (else their first line), as
    the alt text. Always grounded, so the grounding guard keeps it whatever the caption says."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def write(self, conversations: Sequence[Sequence[dict[str, str]]], seeds: Sequence[int | None]) -> list[str]:
        self.calls.append(len(conversations))
        out = []
        for c in conversations:
            facts = c[-1]["content"].split("VISION_START\n", 1)[-1].split("\nVISION_END", 1)[0].splitlines()
            caption = next((line.split(":", 1)[1].strip() for line in facts if line.startswith("Caption:")), None)
            out.append(caption if caption is not None else (facts[0] if facts else ""))
        return out


class FixedCaptioner(CaptionerBase):
    """Deterministic test captioner: one caption for every image, counting the images it sees."""

    def __init__(self, caption: str = "a dog running on the grass") -> None:
        self.text = caption
        self.images = 0

    def caption(self, images: Sequence[Any], prompt: str | None = None) -> list[str]:
        self.images += len(images) if prompt is None else 0
        return [self.text] * len(images)


def fix_text(path: str, text: str, alt: str = "Dog", engine: str | None = None, strict: bool = False) -> tuple[str, list[Edit]]:
    """Every fixable image of ``text`` given ``alt``, edited and verified by fix's own plan_file."""
    settings = dataclasses.replace(Settings(), strict=strict)
    engine = engine or ("gfm" if path.endswith((".md", ".mdx")) else "html")
    fix = scanned(Document(path, text.encode(), text, False), engine, settings)
    fix.proposals = [Proposal(f, alt=alt) for f in fix.findings if fixable(f, settings)]
    plan_file(fix, settings)
    assert [p.reason for p in fix.proposals if p.reason] == []
    assert fix.problem is None, fix.problem
    return (text if fix.new_text is None else fix.new_text), fix.edits
