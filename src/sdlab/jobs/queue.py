"""A job queue: requests stored as jobs and run one after another on an engine, in a worker thread.

Overlapping callers are defined: jobs run in submission order, each with its own seeds; each can be
cancelled (queued: it never runs; running: it stops, keeping the finished images) or skipped
(A1111's skip: the running batch is dropped). The queue is bounded, and a job that fails fails
alone. Callers can wait for a job or follow its step events.
"""

from __future__ import annotations

import queue as queues
import threading
import time
from dataclasses import dataclass, field

from sdlab.engine.engine import Engine
from sdlab.engine.events import StepEvent
from sdlab.errors import QueueFull, SdlabError, UsageError
from sdlab.jobs.store import Job, JobState, JobStore
from sdlab.jobs.sweeps import run_sweep_job
from sdlab.requests import GenerationRequest, build_request

PRUNE_EVERY = 60.0  # seconds between retention passes


@dataclass
class _Running:
    job: Job
    cancel: threading.Event = field(default_factory=threading.Event)
    skip: threading.Event = field(default_factory=threading.Event)
    last: StepEvent | None = None
    cells: tuple[int, int] | None = None  # a sweep's (cells done, cells in all)


class JobQueue:
    """Runs the jobs of `store` on `engine`; at most `max_queued` wait at once."""

    def __init__(self, engine: Engine, store: JobStore, max_queued: int = 100, keep_seconds: float | None = None) -> None:
        self.engine, self.store, self.max_queued = engine, store, max_queued
        self.keep_seconds = keep_seconds  # finished jobs older than this are deleted; None keeps them all
        self._pruned = float("-inf")
        self._changed = threading.Condition()
        self._running: _Running | None = None
        self._listeners: dict[str, list[queues.Queue]] = {}
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None

    def start(self) -> "JobQueue":
        self._worker = threading.Thread(target=self._work, name="sdlab-jobs", daemon=True)
        self._worker.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the running job (which is cancelled, keeping its finished images)."""
        self._stopping.set()
        with self._changed:
            if self._running is not None:
                self._running.cancel.set()
            self._changed.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)

    def submit(self, request: GenerationRequest) -> Job:
        """Queue `request`; QueueFull (with a retry time) when `max_queued` jobs already wait."""
        return self.submit_all([request])[0]

    def submit_sweep(self, base: GenerationRequest, axes: dict) -> Job:
        """Queue a sweep: `base` varied along `axes` (see jobs.sweeps.sweep_axes), every cell run and measured."""
        return self.submit_all([base], axes)[0]

    def submit_all(self, requests: list[GenerationRequest], sweep: dict | None = None) -> list[Job]:
        """Queue several requests as consecutive jobs, all or none (QueueFull when they do not all fit)."""
        with self._changed:
            waiting = self.store.count(JobState.queued)
            if waiting + len(requests) > self.max_queued:
                raise QueueFull(f"{waiting} jobs are waiting and this call needs {len(requests)} more; this server "
                                f"queues at most {self.max_queued}", retry_after=10)
            submitted = [self.store.add(request, sweep) for request in requests]
            self._changed.notify_all()
        return submitted

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise UsageError("job", f"no job {job_id!r}")
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job (it never runs) or the running one (it stops; finished images are kept)."""
        with self._changed:
            job = self.get(job_id)
            if job.state is JobState.queued and self.store.cancel_queued(job_id):
                self._changed.notify_all()
            elif self._running is not None and self._running.job.id == job_id:
                self._running.cancel.set()
        return self.get(job_id)

    def skip(self, job_id: str) -> None:
        """Drop the running job's current batch and go on with its next (A1111's skip)."""
        with self._changed:
            if self._running is not None and self._running.job.id == job_id:
                self._running.skip.set()

    def progress(self) -> tuple[Job, StepEvent | None] | None:
        """The running job and its latest step, or None when nothing runs."""
        running = self._running
        return (running.job, running.last) if running is not None else None

    def sweep_progress(self, job_id: str) -> tuple[int, int] | None:
        """(cells done, cells in all) of the running sweep `job_id`."""
        running = self._running
        return running.cells if running is not None and running.job.id == job_id else None

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished (done, failed or cancelled), or `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.get(job_id).state.finished, timeout)
        return self.get(job_id)

    def listen(self, job_id: str) -> queues.Queue:
        """A queue that receives the job's StepEvents, then its finished Job (the end of the stream)."""
        events: queues.Queue = queues.Queue()
        with self._changed:
            job = self.get(job_id)
            if job.state.finished:
                events.put(job)
            else:
                self._listeners.setdefault(job_id, []).append(events)
        return events

    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._changed:  # claimed and marked running at once, so a cancel in between is not lost
                job = self.store.claim_next()
                if job is None:
                    self._prune()
                    self._changed.wait(0.5)
                    continue
                self._running = _Running(job)
                self._changed.notify_all()
            finished = self._run(self._running)
            with self._changed:
                self._running = None
                for events in self._listeners.pop(job.id, []):
                    events.put(finished)
                self._changed.notify_all()

    def _prune(self) -> None:
        """Apply the retention setting, at most once a minute, while idle."""
        if self.keep_seconds is not None and time.monotonic() - self._pruned > PRUNE_EVERY:
            self.store.prune(self.keep_seconds)
            self._pruned = time.monotonic()

    def _run(self, running: _Running) -> Job:
        def progress(event: StepEvent) -> None:
            event = event.kept()  # read later from other threads (progress polls, event streams)
            running.last = event
            for events in self._listeners.get(running.job.id, []):
                events.put(event)

        try:
            if running.job.sweep is not None:
                record, cancelled = run_sweep_job(
                    self.engine, running.job.request, running.job.sweep, self.store.sweep_folder(running.job.id),
                    running.cancel, lambda done, total: setattr(running, "cells", (done, total)))
                return self.store.finish_sweep(running.job.id, record, cancelled)
            request = build_request(**running.job.request)
            result = self.engine.generate(request, progress=progress, cancel=running.cancel, skip=running.skip,
                                          previews=True)
        except UsageError as exc:
            return self.store.fail(running.job.id, exc.message, exc.argument or "request")
        except SdlabError as exc:
            return self.store.fail(running.job.id, str(exc))
        except Exception as exc:  # noqa: BLE001 - a job that fails fails alone; the queue keeps serving
            return self.store.fail(running.job.id, f"unexpected {exc.__class__.__name__}: {exc}")
        return self.store.finish(running.job.id, result)
