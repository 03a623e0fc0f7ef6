"""From described proposals to written files and printed lines: the one path that fix, apply
and watch share.

Each file is edited and verified (``plan_file``), then written atomically, and only if it may be
written here and still holds the bytes that were read; or, where the command only shows what it
would do, left as it is. Then each image gets a line. ``Finish`` is the path; ``Console`` speaks
for fix and apply (a line per image, ``Rewriting path``, a summary, an exit code), and watch's
page log speaks for watch.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from alttext import escape, messages
from alttext.escape import line
from alttext.fixing.fix import FIXABLE, FileFix, Proposal, new_bytes, plan_file, unified_diff
from alttext.fixing.write import Changed, Refused, write_atomic
from alttext.model import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, FileError, Settings


@dataclass(frozen=True)
class Mode:
    diff: bool = False
    dry_run: bool = False
    exit_zero_even_if_changed: bool = False
    quiet: bool = False

    @property
    def writes(self) -> bool:
        return not (self.diff or self.dry_run)


class Outcome(enum.Enum):
    """What became of one file."""

    WRITTEN = "written"  # the new text was written or, where nothing is written, would be
    UNCHANGED = "unchanged"  # nothing to write: no edit, or none that changed the text
    PROBLEM = "problem"  # left as it is: ``fix.problem`` says why
    REFUSED = "refused"  # it may not be written (found at the write)
    FAILED = "failed"  # it changed on disk since it was read, or could not be written
    WAITING = "waiting"  # not now (watch: another program holds it open)


class Finish(abc.ABC):
    """Edits, verifies and writes one file at a time, then gives each image its line. What is
    said, beyond the file's problem and why a write failed, is the subclass's."""

    changed_line = messages.FIX_CHANGED  # the file changed on disk since it was read

    def __init__(self, settings: Settings, writes: bool, err: TextIO, allowed: Sequence[str] | None) -> None:
        self.settings = settings
        self.writes = writes
        self.err = err
        self.allowed = allowed  # where files may be written (None: anywhere)

    def file(self, fix: FileFix) -> Outcome:
        """Finish one described file: edit, verify, write, a line per image."""
        outcome = self._land(fix)
        if self.landed(fix, outcome):
            for p in fix.proposals:
                if outcome is Outcome.WRITTEN and p.reason is None and (p.alt or p.mark_decorative):
                    self.image_fixed(fix, p)
                else:
                    self.image_left(fix, p, p.reason or (fix.problem and messages.FIX_LEFT_UNCHANGED) or messages.FIX_NOT_WRITTEN)
        return outcome

    def _land(self, fix: FileFix) -> Outcome:
        plan_file(fix, self.settings)
        if fix.problem:
            self.say(escape.terminal(fix.problem))
            return Outcome.PROBLEM
        if fix.new_text is None or fix.new_text == fix.document.text:
            return Outcome.UNCHANGED
        if not self.writes:
            self.would_rewrite(fix)
            return Outcome.WRITTEN
        if not self.may_write(fix):
            return Outcome.WAITING
        try:
            write_atomic(fix.path, new_bytes(fix), fix.document.data, self.allowed)
        except Refused as exc:
            self.say(line(messages.FIX_REFUSED, path=fix.path, reason=str(exc)))
            return Outcome.REFUSED
        except Changed:
            self.say(line(self.changed_line, path=fix.path))
            return Outcome.FAILED
        except OSError as exc:
            self.say(line(messages.FIX_UNWRITABLE, path=fix.path, reason=exc.strerror or str(exc)))
            return Outcome.FAILED
        self.rewritten(fix)
        return Outcome.WRITTEN

    def say(self, text: str, stream: TextIO | None = None) -> None:
        print(text, file=stream or self.err, flush=True)

    # What the subclasses say and do ------------------------------------------------------

    def may_write(self, fix: FileFix) -> bool:
        return True

    def would_rewrite(self, fix: FileFix) -> None:
        pass

    def rewritten(self, fix: FileFix) -> None:
        pass

    def landed(self, fix: FileFix, outcome: Outcome) -> bool:
        """Whether the images of ``fix`` get their lines."""
        return True

    @abc.abstractmethod
    def image_fixed(self, fix: FileFix, p: Proposal) -> None: ...

    @abc.abstractmethod
    def image_left(self, fix: FileFix, p: Proposal, reason: str) -> None: ...


def why_review(p: Proposal) -> str:
    return "; ".join(p.dropped) if p.dropped else ("; ".join(dict.fromkeys(p.lint)) or messages.FIX_REPAIRED)


class Console(Finish):
    """fix and apply: a line per image on stdout (on stderr with ``--diff``, whose stdout is the
    patch), ``Rewriting path`` and the summary on stderr. Exit codes: 0 nothing needed doing; 1
    a file was (or would be) rewritten or an image was left unfixed; 2 a file could not be read
    or written."""

    def __init__(self, settings: Settings, mode: Mode, out: TextIO, err: TextIO, allowed: Sequence[str] | None) -> None:
        super().__init__(settings, mode.writes, err, allowed)
        self.mode = mode
        self.out = out
        self.lines = err if mode.diff else out
        self.fixed = self.left = 0

    def run(self, fixes: Sequence[FileFix], errors: Sequence[FileError], remaining: bool = False) -> int:
        """Finish every file. ``remaining``: also say how many images in these files still lack
        alt text (``apply``, whose report may not list them all)."""
        for error in errors:
            self.say(escape.terminal(error.message))
        outcomes = [self.file(fix) for fix in fixes]
        changed = outcomes.count(Outcome.WRITTEN)
        if not self.mode.quiet:
            self._summary(changed, fixes if remaining else ())
        if errors or Outcome.FAILED in outcomes:
            return EXIT_ERROR
        if self.left or (changed and not self.mode.exit_zero_even_if_changed):
            return EXIT_FINDINGS
        return EXIT_CLEAN

    def _summary(self, changed: int, remaining: Sequence[FileFix]) -> None:
        if self.fixed or self.left:
            summary = messages.FIX_SUMMARY if self.writes else messages.FIX_WOULD_SUMMARY
            self.say(summary.format(fixed=self.fixed, fixed_word=messages.plural(self.fixed, "image"), files=changed,
                                    files_word=messages.plural(changed, "file"), left=self.left))
        if remaining:
            still = sum(f.rule in FIXABLE for fix in remaining for f in fix.findings) - self.fixed
            template = messages.APPLY_STILL if self.writes else messages.APPLY_WOULD_STILL
            self.say(template.format(count=still, images=messages.plural(still, "image"), files=len(remaining),
                                     files_word=messages.plural(len(remaining), "file"), lack="lacks" if still == 1 else "lack"))

    def would_rewrite(self, fix: FileFix) -> None:
        if self.mode.diff:
            self.out.write(unified_diff(fix))
        self.say(line(messages.FIX_WOULD_REWRITE, path=fix.path))

    def rewritten(self, fix: FileFix) -> None:
        self.say(line(messages.FIX_REWRITING, path=fix.path))

    def image_fixed(self, fix: FileFix, p: Proposal) -> None:
        self.fixed += 1
        f = p.finding
        where = dict(path=fix.path, line=f.line, column=f.column)
        if p.mark_decorative:
            self.say(line(messages.FIX_DECORATIVE if self.writes else messages.FIX_WOULD_DECORATIVE, src=f.src, **where), self.lines)
            return
        template = messages.FIX_ADDED if self.writes else messages.FIX_PROPOSED
        # The text as written into the file, not as the model said it.
        self.say(line(template, src=f.src, alt=escape.plain(p.alt), **where), self.lines)
        if p.needs_review:
            self.say(line(messages.FIX_REVIEW, why=why_review(p), **where), self.lines)

    def image_left(self, fix: FileFix, p: Proposal, reason: str) -> None:
        self.left += 1
        f = p.finding
        self.say(line(messages.FIX_NOT_FIXED, path=fix.path, line=f.line, column=f.column, rule=f.rule, message=f.message, reason=reason),
                 self.lines)
