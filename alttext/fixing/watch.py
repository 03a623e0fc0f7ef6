"""``alttext watch``: alt text appears while you write.

watchdog reports file events on its own thread; they only mark a path as due (debounced, so the
several events of one save, or an editor's write-a-temp-file-and-rename, make one action). The
main thread takes each due path once it has been quiet for ``debounce`` seconds:

- a page (Markdown or HTML under the same include/exclude rules as ``check``): read it, describe
  its new images, and write the alt text only if the file still holds the bytes that were read
  (otherwise the next save brings it back). Bytes it has already handled (its own write, or the
  same content saved again) are skipped, so there is no loop;
- an image: the places where this watcher wrote alt text for it, and nobody edited that text
  since, are described again; a person's alt text is never touched.

Models load on the first image that needs them and stay loaded; the description cache is used.
Ctrl-C stops it between actions or during one (a write is atomic: all or nothing).
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from alttext import escape, messages
from alttext.escape import line
from alttext.fixing.context import places_in
from alttext.fixing.finish import Finish, Outcome, why_review
from alttext.fixing.fix import FileFix, Proposal, collect, describe_all, new_bytes, open_file
from alttext.fixing.locate import Resolver
from alttext.model import EXIT_INTERRUPTED, Finding, Settings
from alttext.pipeline.cache import open_cache
from alttext.progress import Progress
from alttext.scan import finding_at
from alttext.scan.files import selected
from alttext.scan.lines import LineIndex
from alttext.fixing.write import allowed_roots, open_for_writing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".bmp", ".tif", ".tiff", ".avif")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@dataclass(frozen=True)
class Written:
    """Alt text this watcher wrote: which image it describes, and the text as it reads back."""

    image: str  # real path of the image file
    alt: str


class Watcher:
    def __init__(
        self,
        paths: Sequence[str],
        settings: Settings,
        report: bool = False,
        debounce: float = 0.5,
        out: TextIO | None = None,
        err: TextIO | None = None,
        **options: Any,
    ) -> None:
        import sys

        self.tops = [os.path.abspath(p) for p in (paths or ["."])]
        self.settings = settings
        self.report = report
        self.debounce = debounce
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.options = options  # captioner=, writer= (tests); the cache is opened here
        self.events: queue.Queue[str] = queue.Queue()
        self.due: dict[str, float] = {}
        self.handled: dict[str, bytes] = {}  # the bytes of each page as last read or written
        self.written: dict[str, list[Written]] = {}  # page -> alt text this watcher wrote there
        self.awaited: dict[str, set[str]] = {}  # a missing picture (absolute path) -> the pages that name it
        self.write_count = 0  # pages this watcher wrote (a page written twice counts twice)
        self.busy: set[str] = set()  # pages said to be open in another program, not yet written
        self.pending: dict[str, set[str]] = {}  # a busy page -> the changed pictures to refresh there
        self.stopping = threading.Event()
        # Where pages may be written: the project and the watched paths (links out are left alone).
        self.allowed = allowed_roots(settings.root, settings.follow_symlinks, *self.tops)
        self.workdir = tempfile.mkdtemp(prefix="alttext-watch-")  # decoded data: images; removed by close()

    # Events (watchdog's thread) ------------------------------------------------------------

    def notice(self, path: str) -> None:
        self.events.put(os.path.abspath(path))

    def _handler(self) -> Any:
        from watchdog.events import FileSystemEventHandler

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.is_directory or event.event_type in ("opened", "closed_no_write"):
                    return
                for path in (event.src_path, getattr(event, "dest_path", "")):
                    if path:
                        watcher.notice(os.fsdecode(path))

        return Handler()

    # Deciding what a path is -----------------------------------------------------------------

    def is_page(self, path: str) -> bool:
        return any(selected(path, self.settings, top) for top in self.tops)

    @staticmethod
    def is_image(path: str) -> bool:
        name = os.path.basename(path)
        return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)

    # The loop ----------------------------------------------------------------------------

    def run(self) -> int:
        """Watch until Ctrl-C (exit 130) or ``stop()`` (exit 0)."""
        from watchdog.observers import Observer

        if threading.current_thread() is threading.main_thread():
            # A terminal closed or a service stopped: leave the way Ctrl-C does, cleaning up.
            for name in ("SIGTERM", "SIGHUP"):
                if hasattr(signal, name):
                    signal.signal(getattr(signal, name), _interrupt)
        observer = Observer()
        handler = self._handler()
        for top in self.tops:
            observer.schedule(handler, top if os.path.isdir(top) else os.path.dirname(top), recursive=True)
        shown = ", ".join(os.path.relpath(t) for t in self.tops)
        try:
            observer.start()
            print(messages.WATCH_STARTED.format(paths=shown, mode="report only" if self.report else "writing alt text"), file=self.err, flush=True)
            while not self.stopping.is_set():
                self.step(timeout=0.05)
        except KeyboardInterrupt:
            print(messages.INTERRUPTED, file=self.err)
            return EXIT_INTERRUPTED
        finally:
            if observer.is_alive():
                observer.stop()
                observer.join()
            self.close()
        return 0

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        cache = self.options.pop("cache", None)
        if cache is not None:
            cache.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def step(self, timeout: float = 0.0, now: Callable[[], float] = time.monotonic) -> None:
        """Take new events, then act on every path quiet for ``debounce`` seconds."""
        try:
            path = self.events.get(timeout=timeout)
            while True:
                self.due[path] = now() + self.debounce
                path = self.events.get_nowait()
        except queue.Empty:
            pass
        ready = sorted(p for p, t in self.due.items() if t <= now())
        for path in ready:
            del self.due[path]
            self.act(path)

    def act(self, path: str) -> None:
        try:
            if self.is_image(path) and path in self.awaited and os.path.isfile(path):
                # A page named this picture before it existed (the page saved first, then the
                # picture copied in): describe it for those pages now.
                for page in sorted(self.awaited.pop(path)):
                    self.handled.pop(page, None)
                    if os.path.isfile(page):
                        self.page(page)
            elif self.is_image(path):
                self.refresh(path)
            elif os.path.isfile(path) and self.is_page(path):
                self.page(path)
                for image in sorted(self.pending.pop(path, ())):  # refreshes that waited for it
                    self.refresh(image, only=path)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one bad file never stops the watcher
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            print(line(messages.WATCH_FAILED, path=os.path.relpath(path), reason=reason), file=self.err, flush=True)

    # Pages ------------------------------------------------------------------------------

    def _open(self, path: str) -> FileFix | None:
        fix, error = open_file(os.path.relpath(path), self.settings)
        if fix is None:
            print(escape.terminal(error.message), file=self.err, flush=True)
        return fix

    def page(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return  # gone again (an editor's temporary file); its rename brings the real one
        if self.handled.get(path) == data:
            return  # our own write, or the same content saved again
        if not self.report and not self.quiet(path):
            return  # no model runs for a page that could not be written now
        fixes, errors = collect([os.path.relpath(path)], self.settings, self.workdir, allowed=self.allowed, writes=not self.report)
        for error in errors:
            print(escape.terminal(error.message), file=self.err, flush=True)
        if not fixes:
            return
        fix = fixes[0]
        if fix.document.data != data:
            return  # changed while it was read: its own event brings it back
        if not fix.proposals:
            self.mark_handled(path, data)
            return
        self._finish(path, fix)

    def _finish(self, path: str, fix: FileFix, refreshed: dict[int, str] | None = None) -> None:
        """Describe, edit, verify and write one page; log a line per image."""
        self._describe(fix)
        _Page(self, path, refreshed).file(fix)

    def quiet(self, path: str) -> bool:
        """Whether ``path`` may be replaced now. A file another program still holds open for
        writing is not: what it writes next would go to the replaced file and be lost. The page
        is read again once that program closes it (its close is an event), and once more after
        a pause for systems that do not report closes. Where open files cannot be seen, the file
        must at least have been still for ``debounce`` seconds."""
        held = open_for_writing(path)
        if held is None:
            try:  # abs: a modification time in the future (clock skew, an archive) is not "now"
                if abs(time.time() - os.stat(path).st_mtime) < self.debounce:
                    self.due[path] = time.monotonic() + self.debounce
                    return False
            except OSError:
                pass  # gone: the write says so
            return True
        if held:
            if path not in self.busy:
                self.busy.add(path)
                print(line(messages.WATCH_BUSY, path=os.path.relpath(path)), file=self.err, flush=True)
            self.handled.pop(path, None)
            self.due[path] = time.monotonic() + max(self.debounce, 2.0)
        else:
            self.busy.discard(path)
        return not held

    def mark_handled(self, path: str, data: bytes, written: bool = False) -> None:
        """Remember ``data`` as the page's bytes, so that the event of this watcher's own write (or
        the same content saved again) is skipped; ``written``: this watcher just wrote them."""
        if written:
            self.busy.discard(path)
            self.write_count += 1
        self.handled[path] = data

    def _describe(self, fix: FileFix) -> None:
        if "cache" not in self.options:
            self.options["cache"] = open_cache(self.settings, lambda line: print(line, file=self.err, flush=True))
        if "progress" not in self.options:  # the first save loads the models: say so, on a terminal or in a log
            self.options["progress"] = Progress.on_terminal(stream=self.err)
        describe_all([fix], self.settings, **self.options)

    def await_picture(self, path: str, proposal: Proposal) -> None:
        """Remember the files a page's missing picture may yet be saved as."""
        if not (proposal.reason or "").startswith("image not found"):
            return
        for candidate in Resolver(self.settings.images, self.workdir).resolve(proposal.finding.src, os.path.relpath(path)).missing:
            self.awaited.setdefault(candidate, set()).add(path)

    def remember(self, path: str, proposal: Proposal, refreshed: dict[int, str] | None) -> None:
        """Record the alt text just written; a refreshed text replaces the one it was."""
        old = refreshed.get(proposal.finding.start) if refreshed else None
        # A refresh's proposal already holds the image's real path; a new image's src is resolved.
        image = proposal.image if old is not None else self._source_of(path, proposal)
        if image is None:
            return
        entries = [w for w in self.written.get(path, []) if not (w.image == image and w.alt == old)]
        entries.append(Written(image, escape.plain(proposal.alt)))
        self.written[path] = entries

    def _source_of(self, path: str, proposal: Proposal) -> str | None:
        """The real path of the local image file a proposal describes (None for remote ones)."""
        resolved = Resolver(self.settings.images, self.workdir).resolve(proposal.finding.src, os.path.relpath(path))
        return os.path.realpath(resolved.path) if resolved.path and not resolved.path.startswith(self.workdir) else None

    # Images -----------------------------------------------------------------------------

    def refresh(self, image: str, only: str | None = None) -> None:
        """Describe ``image`` again where this watcher wrote its alt text, unless edited since
        (``only``: on that page alone). A page open in another program waits for its close."""
        image = os.path.realpath(image)
        if not os.path.isfile(image):
            return
        for path, entries in list(self.written.items()):
            ours = {w.alt for w in entries if w.image == image}
            if not ours or only not in (None, path):
                continue
            if not self.report and not self.quiet(path):
                self.pending.setdefault(path, set()).add(image)
                continue
            fix = self._open(path)
            if fix is None:
                continue
            targets = self._stale(fix, image, ours)
            if not targets:
                # The alt text was edited (or the image removed) since: it is a person's now.
                self.written[path] = [w for w in entries if w.image != image]
                continue
            self._refresh_page(path, fix, targets, image)

    def _stale(self, fix: FileFix, image: str, ours: set[str]) -> list[Finding]:
        """The places on the page where ``image`` still has alt text this watcher wrote."""
        resolver = Resolver(self.settings.images, self.workdir)
        index = LineIndex(fix.document.text)  # as check counts lines: CRLF, a lone CR and LF each end one
        stale: list[Finding] = []
        for event in fix.images:
            if event.verdict.alt is None or escape.plain(event.verdict.alt) not in ours:
                continue
            resolved = resolver.resolve(event.src, fix.path)
            if resolved.path and os.path.realpath(resolved.path) == image:
                stale.append(finding_at(fix.path, event, index, "ALT002", messages.WATCH_STALE.format(src=event.src), fix.engine))
        return stale

    def _refresh_page(self, path: str, fix: FileFix, targets: list[Finding], image: str) -> None:
        fix.places = places_in(fix.path, fix.document.text, targets)
        fix.proposals = [Proposal(f, image=image) for f in targets]
        self._finish(path, fix, refreshed={f.start: escape.plain(f.alt or "") for f in targets})


class _Page(Finish):
    """One page as watch finishes it: a log line per image as its alt text is written (no
    ``Rewriting`` line, no summary), and what the watcher must remember of it."""

    changed_line = messages.WATCH_CHANGED

    def __init__(self, watcher: Watcher, path: str, refreshed: dict[int, str] | None) -> None:
        super().__init__(watcher.settings, not watcher.report, watcher.err, watcher.allowed)
        self.watcher = watcher
        self.path = path  # absolute
        self.refreshed = refreshed or {}  # start offset -> the alt text this watcher wrote there before

    def may_write(self, fix: FileFix) -> bool:
        return self.watcher.quiet(self.path)

    def landed(self, fix: FileFix, outcome: Outcome) -> bool:
        """Remember the page's bytes as handled, and whether its images get lines: not when it
        was not written (its own next event brings it back: a person's newer save, a program that
        still holds it) nor when its edit failed; a page that may not be written says why each
        image is left."""
        if outcome is Outcome.WRITTEN and self.writes:
            self.watcher.mark_handled(self.path, new_bytes(fix), written=True)
            return True
        if outcome not in (Outcome.WRITTEN, Outcome.UNCHANGED, Outcome.PROBLEM):
            return False
        self.watcher.mark_handled(self.path, fix.document.data)
        return outcome is not Outcome.PROBLEM or (fix.problem or "").startswith(messages.FIX_REFUSED.format(path=fix.path, reason=""))

    def image_fixed(self, fix: FileFix, p: Proposal) -> None:
        f = p.finding
        where = dict(path=fix.path, line=f.line, column=f.column, src=f.src)
        alt = escape.plain(p.alt)  # as written
        if not self.writes:
            self.say(line(messages.WATCH_PROPOSED, alt=alt, **where), self.watcher.out)
            return
        template = messages.WATCH_REFRESHED if f.start in self.refreshed else messages.WATCH_ADDED
        self.say(line(template, alt=alt, **where), self.watcher.out)
        if p.needs_review:
            self.say(line(messages.FIX_REVIEW, path=fix.path, line=f.line, column=f.column, why=why_review(p)), self.watcher.out)
        if p.image:
            self.watcher.remember(self.path, p, self.refreshed)

    def image_left(self, fix: FileFix, p: Proposal, reason: str) -> None:
        f = p.finding
        self.watcher.await_picture(self.path, p)
        self.say(line(messages.WATCH_NOT_FIXED, path=fix.path, line=f.line, column=f.column, rule=f.rule, message=f.message, reason=reason),
                 self.watcher.out)


def watch(paths: Sequence[str], settings: Settings, report: bool = False, debounce: float = 0.5, **options: Any) -> int:
    return Watcher(paths, settings, report=report, debounce=debounce, **options).run()
