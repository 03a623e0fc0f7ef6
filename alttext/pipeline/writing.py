"""The writer's stage: each job's conversation with the writer, in batches, judged, retried once,
then settled by the judge."""

from __future__ import annotations

from alttext.pipeline.interface import Writer
from alttext.pipeline.judge import Draft, Judge
from alttext.pipeline.records import Job, chunks
from alttext.progress import Progress


def write(jobs: list[Job], judge: Judge, writer: Writer, size: int, progress: Progress) -> None:
    """Write, judge and retry once, ``size`` conversations a call; then each job gets its decision."""
    # Batched by language and kind, in page order within each: a batch's rows then share the whole
    # of their instructions and examples, which the writer runs once for all of them.
    drafts = [judge.draft(job) for job in sorted(jobs, key=lambda job: (job.language, job.evidence.kind))]
    # The answers that break a rule are rewritten a batch at a time, as soon as there is a batch of
    # them (or at the end), while the writer still keeps their prompts' cache.
    progress.stage("writing", len(drafts), "alt texts")
    waiting: list[Draft] = []
    for chunk in chunks(drafts, size):
        _attempt(chunk, judge, writer, progress)
        failed = [k for k, d in enumerate(chunk) if d.failed]
        writer.keep(failed)
        waiting += [chunk[k] for k in failed]
        progress.add(len(failed))
        while len(waiting) >= size:
            _attempt(waiting[:size], judge, writer, progress, again=True)
            writer.keep([])
            waiting = waiting[size:]
    if waiting:
        _attempt(waiting, judge, writer, progress, again=True)
    writer.forget()  # nothing stays kept between runs (watch runs many)
    for d in drafts:
        d.job.decision = judge.settle(d)


def _attempt(batch: list[Draft], judge: Judge, writer: Writer, progress: Progress, again: bool = False) -> None:
    """One call of the writer for ``batch`` (``again``: their retry, a new draw), each answer judged."""
    if again:
        for d in batch:
            judge.redraft(d)
    answers = writer.write([d.messages for d in batch], [d.job.seed + (1 if again else 0) for d in batch])
    for d, raw in zip(batch, answers):
        d.answers.append(raw)
        d.judged.append(judge.assess(raw, d))
    progress.advance(len(batch))
