"""Jobs and their results on disk, so nothing is lost when a server is killed: one SQLite file and PNG files.

A data folder holds `jobs.sqlite3` (one row per job: its request as JSON, state, times, results) and
`jobs/<id>/` (the job's input images and its result PNGs, each written atomically with its A1111
infotext). Opening a store again after a crash marks a job that was running as failed, saying so;
queued jobs stay queued and run. Finished jobs are kept until pruned (the server's retention setting).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

from PIL import Image

from sdlab.atomic import make_folder
from sdlab.outputs import save_png
from sdlab.requests import GenerationRequest, GenerationResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    error_field TEXT,
    result TEXT,
    sweep TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, number);
"""
#: Columns added since the first schema, for stores written by an older sdlab.
ADDED_COLUMNS = {"sweep": "TEXT"}
INTERRUPTED = "the server stopped while this job ran; submit it again"


class JobState(str, Enum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.done, JobState.failed, JobState.cancelled)


@dataclass(frozen=True)
class Job:
    """A job as stored: its request (JSON fields), state, times and, once finished, its result."""

    id: str
    number: int  # submission order
    state: JobState
    request: dict[str, Any]
    created: float
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)  # images (file, seed, infotext), resolved, warnings
    error_field: str | None = None  # set when the request itself was at fault: the field to blame
    sweep: dict[str, Any] | None = None  # a sweep job: its axes {"x", "y", "max_cells"}; the request is every cell's base

    @property
    def kind(self) -> str:
        return "sweep" if self.sweep is not None else "generate"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "number": self.number, "kind": self.kind, "state": self.state.value,
                "request": self.request, **({"sweep_axes": self.sweep} if self.sweep is not None else {}),
                "created": self.created, "started": self.started, "finished": self.finished, "error": self.error,
                "error_field": self.error_field, **self.result}


class JobStore:
    """Jobs in `folder` (created if needed); safe to use from several threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = make_folder(Path(folder))
        self.path = self.folder / "jobs.sqlite3"
        with self._db() as db:
            db.executescript(SCHEMA)
            present = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            for column, kind in ADDED_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
            db.execute("UPDATE jobs SET state = ?, error = ?, finished = ? WHERE state = ?",
                       (JobState.failed.value, INTERRUPTED, time.time(), JobState.running.value))

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # autocommit: every write is durable
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.row_factory = sqlite3.Row
        return closing(db)  # type: ignore[return-value]

    def job_folder(self, job_id: str) -> Path:
        return self.folder / "jobs" / job_id

    def sweep_folder(self, job_id: str) -> Path:
        return self.job_folder(job_id) / "sweep"

    def add(self, request: GenerationRequest, sweep: dict[str, Any] | None = None) -> Job:
        """Store a new queued job (a sweep when `sweep` gives its axes); input images given as PIL images are saved
        with it."""
        job_id = uuid.uuid4().hex
        fields = request.model_dump(mode="python")
        for name in ("image", "mask"):
            if isinstance(fields.get(name), Image.Image):
                path = save_png(fields[name], self.job_folder(job_id) / f"input-{name}.png", overwrite=True)
                fields[name] = str(path)
        fields["loras"] = [dict(ref) for ref in fields.get("loras", ())]
        fields = json.loads(json.dumps(fields, default=_json_value))
        with self._db() as db:
            number = db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM jobs").fetchone()[0]
            db.execute("INSERT INTO jobs (id, number, state, request, created, sweep) VALUES (?, ?, ?, ?, ?, ?)",
                       (job_id, number, JobState.queued.value, json.dumps(fields), time.time(),
                        json.dumps(sweep) if sweep is not None else None))
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def jobs(self, states: tuple[JobState, ...] = tuple(JobState), limit: int = 100) -> list[Job]:
        """The newest `limit` jobs in `states`, oldest first."""
        marks = ",".join("?" * len(states))
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY number DESC LIMIT ?",
                              (*[s.value for s in states], limit)).fetchall()
        return [_job(row) for row in reversed(rows)]

    def count(self, state: JobState) -> int:
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state.value,)).fetchone()[0]

    def claim_next(self) -> Job | None:
        """The oldest queued job, marked running (atomically, so two workers never take the same job)."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY number LIMIT 1",
                             (JobState.queued.value,)).fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute("UPDATE jobs SET state = ?, started = ? WHERE id = ?",
                       (JobState.running.value, time.time(), row["id"]))
            db.execute("COMMIT")
        return self.get(row["id"])

    def cancel_queued(self, job_id: str) -> bool:
        """Cancel a job that has not started; False when it is no longer queued."""
        with self._db() as db:
            changed = db.execute("UPDATE jobs SET state = ?, finished = ? WHERE id = ? AND state = ?",
                                 (JobState.cancelled.value, time.time(), job_id, JobState.queued.value)).rowcount
        return changed == 1

    def finish(self, job_id: str, result: GenerationResult) -> Job:
        """Save a finished (or cancelled) run's images as PNGs with their infotext, then record them."""
        images = []
        for index, item in enumerate(result.images):
            path = save_png(item.image, self.job_folder(job_id) / f"{index:05d}-{item.seed}.png", item.infotext,
                            overwrite=True)
            images.append({"file": str(path.relative_to(self.folder)), "seed": item.seed, "infotext": item.infotext,
                           "nsfw": item.nsfw})
        record = {"images": images, "warnings": result.warnings, "seconds": round(result.seconds, 3),
                  "resolved": json.loads(json.dumps(vars(result.resolved), default=_json_value)),
                  "skipped": result.skipped}
        state = JobState.cancelled if result.cancelled else JobState.done
        self._end(job_id, state, None, record)
        return self.get(job_id)

    def finish_sweep(self, job_id: str, record: dict[str, Any], cancelled: bool) -> Job:
        """Record a sweep that ended: its rows and the names of the files it wrote in its folder."""
        self._end(job_id, JobState.cancelled if cancelled else JobState.done, None, {"sweep": record})
        return self.get(job_id)

    def fail(self, job_id: str, message: str, field: str | None = None) -> Job:
        """Record a failure; `field` names the request field at fault when the request was bad."""
        self._end(job_id, JobState.failed, message, {}, field)
        return self.get(job_id)

    def _end(self, job_id: str, state: JobState, error: str | None, record: dict, field: str | None = None) -> None:
        with self._db() as db:
            db.execute("UPDATE jobs SET state = ?, error = ?, error_field = ?, result = ?, finished = ? WHERE id = ?",
                       (state.value, error, field, json.dumps(record), time.time(), job_id))

    def prune(self, older_than: float) -> int:
        """Delete finished jobs that ended more than `older_than` seconds ago, with their folders; how many went."""
        cutoff = time.time() - older_than
        finished = [state.value for state in JobState if state.finished]
        with self._db() as db:
            ids = [row["id"] for row in db.execute(
                f"SELECT id FROM jobs WHERE state IN ({','.join('?' * len(finished))}) AND finished < ?",
                (*finished, cutoff)).fetchall()]
        for job_id in ids:  # files first: a crash in between leaves a row without images, never images without a row
            shutil.rmtree(self.job_folder(job_id), ignore_errors=True)
            with self._db() as db:
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return len(ids)

    def images(self, job: Job) -> Iterator[Path]:
        for image in job.result.get("images", ()):
            yield self.folder / image["file"]


def _job(row: sqlite3.Row) -> Job:
    return Job(row["id"], row["number"], JobState(row["state"]), json.loads(row["request"]), row["created"],
               row["started"], row["finished"], row["error"], json.loads(row["result"]) if row["result"] else {},
               row["error_field"], json.loads(row["sweep"]) if row["sweep"] else None)


def _json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)
