"""The job store and queue: order, own seeds, cancel and skip, a bounded queue, failures alone, restarts."""

from __future__ import annotations

import threading

import pytest
from PIL import Image

from sdlab.engine.images import read_parameters
from sdlab.errors import QueueFull
from sdlab.jobs import JobQueue, JobState, JobStore
from sdlab.requests import build_request
from sdlab.requests.infotext import parse_infotext


def request(sd1_dir, **kw):
    return build_request(**{"prompt": "a red circle", "model": str(sd1_dir), "steps": 3, "width": 32, "height": 32,
                            "seed": 1, **kw})


@pytest.fixture
def jobs(engine, tmp_path):
    queue = JobQueue(engine, JobStore(tmp_path / "data"), max_queued=5).start()
    yield queue
    queue.stop()


def test_jobs_run_in_order_each_with_its_own_seed_and_files(jobs, sd1_dir):
    submitted = [jobs.submit(request(sd1_dir, seed=seed, batch_size=2)) for seed in (10, 20, 30)]
    finished = [jobs.wait(job.id, timeout=120) for job in submitted]
    assert [job.state for job in finished] == [JobState.done] * 3
    assert [job.number for job in finished] == sorted(job.number for job in finished)
    assert finished[0].started <= finished[1].started <= finished[2].started
    for job, seed in zip(finished, (10, 20, 30)):
        assert [image["seed"] for image in job.result["images"]] == [seed, seed + 1]
        for path, image in zip(jobs.store.images(job), job.result["images"]):
            assert parse_infotext(read_parameters(path))["Seed"] == str(image["seed"])


def test_inputs_given_as_images_are_kept_with_the_job(jobs, sd1_dir):
    job = jobs.submit(request(sd1_dir, task="img2img", image=Image.new("RGB", (32, 32), "blue"), strength=0.5, steps=2))
    assert job.request["image"].endswith("input-image.png")
    assert jobs.wait(job.id, timeout=120).state is JobState.done


def test_cancel_a_queued_and_a_running_job(engine, tmp_path, sd1_dir):
    store = JobStore(tmp_path / "data")
    queue = JobQueue(engine, store)
    first = queue.submit(request(sd1_dir, batch_count=3, steps=200))  # long batches: the cancel lands inside batch 1
    second = queue.submit(request(sd1_dir, seed=5))
    assert queue.cancel(second.id).state is JobState.cancelled  # queued: it never runs

    events = queue.listen(first.id)
    queue.start()
    try:
        seen = []
        while True:
            event = events.get(timeout=120)
            if not hasattr(event, "step"):
                break
            seen.append((event.batch, event.step))
            if (event.batch, event.step) == (1, 2):
                queue.cancel(first.id)
        job = queue.wait(first.id, timeout=120)
        assert job.state is JobState.cancelled and [i["seed"] for i in job.result["images"]] == [1]
        assert max(batch for batch, _ in seen) == 1  # stopped within batch 1 (the events arrive while it runs on)
        assert store.get(second.id).started is None
    finally:
        queue.stop()


def test_skip_drops_the_running_batch(jobs, sd1_dir):
    job = jobs.submit(request(sd1_dir, batch_count=3, steps=100))  # long batches: the skip lands inside batch 1
    events = jobs.listen(job.id)
    while True:
        event = events.get(timeout=120)
        if getattr(event, "batch", None) == 1:
            jobs.skip(job.id)
            break
    finished = jobs.wait(job.id, timeout=120)
    assert finished.state is JobState.done and finished.result["skipped"] == 1
    assert [i["seed"] for i in finished.result["images"]] == [1, 3]


def test_the_queue_is_bounded(engine, tmp_path, sd1_dir):
    queue = JobQueue(engine, JobStore(tmp_path / "data"), max_queued=2)  # not started: jobs stay queued
    queue.submit(request(sd1_dir))
    queue.submit(request(sd1_dir))
    with pytest.raises(QueueFull) as info:
        queue.submit(request(sd1_dir))
    assert info.value.retry_after > 0


def test_a_failing_job_fails_alone(jobs, sd1_dir):
    bad = jobs.submit(request(sd1_dir, prompt="a <lora:missing>"))
    good = jobs.submit(request(sd1_dir, seed=7))
    assert jobs.wait(bad.id, timeout=120).state is JobState.failed
    assert "LoRA 'missing' not found" in jobs.get(bad.id).error
    assert jobs.wait(good.id, timeout=120).state is JobState.done


def test_a_restarted_store_keeps_finished_jobs_runs_queued_ones_and_fails_the_interrupted(engine, tmp_path, sd1_dir):
    folder = tmp_path / "data"
    store = JobStore(folder)
    queue = JobQueue(engine, store).start()
    done = queue.wait(queue.submit(request(sd1_dir, seed=3)).id, timeout=120)
    queue.stop()
    interrupted = store.add(request(sd1_dir, seed=4))
    store.claim_next()  # running when the "server" died
    waiting = store.add(request(sd1_dir, seed=5))

    reopened = JobStore(folder)
    assert reopened.get(done.id).state is JobState.done and all(p.is_file() for p in reopened.images(done))
    assert reopened.get(interrupted.id).state is JobState.failed and "stopped" in reopened.get(interrupted.id).error
    queue = JobQueue(engine, reopened).start()
    try:
        assert queue.wait(waiting.id, timeout=120).state is JobState.done
    finally:
        queue.stop()


def test_many_threads_submitting_lose_and_duplicate_nothing(jobs, sd1_dir):
    ids: list[str] = []
    full = []

    def client(seed: int) -> None:
        try:
            ids.append(jobs.submit(request(sd1_dir, seed=seed, steps=1)).id)
        except QueueFull:
            full.append(seed)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(100, 112)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) + len(full) == 12 and len(set(ids)) == len(ids)
    finished = [jobs.wait(job_id, timeout=120) for job_id in ids]
    assert all(job.state is JobState.done for job in finished)
    seeds = [job.result["images"][0]["seed"] for job in finished]
    assert sorted(seeds) == sorted(job.request["seed"] for job in finished) and len(set(seeds)) == len(seeds)


def test_retention_deletes_old_finished_jobs_with_their_files_and_nothing_else(engine, tmp_path, sd1_dir):
    store = JobStore(tmp_path / "data")
    queue = JobQueue(engine, store).start()
    try:
        old = queue.wait(queue.submit(request(sd1_dir, task="img2img", image=Image.new("RGB", (32, 32), "blue"),
                                              strength=0.5, steps=2)).id, timeout=120)
        recent = queue.wait(queue.submit(request(sd1_dir)).id, timeout=120)
    finally:
        queue.stop()
    waiting = store.add(request(sd1_dir))
    with store._db() as db:  # the first job ended two days ago
        db.execute("UPDATE jobs SET finished = finished - 172800 WHERE id = ?", (old.id,))
    assert store.job_folder(old.id).is_dir() and list(store.images(old))
    pruner = JobQueue(engine, store, keep_seconds=86400)
    pruner._prune()
    assert store.get(old.id) is None and not store.job_folder(old.id).exists()
    assert store.get(recent.id).state is JobState.done and all(path.is_file() for path in store.images(recent))
    assert store.get(waiting.id).state is JobState.queued


def test_a_store_written_before_sweeps_existed_opens_and_keeps_its_jobs(tmp_path):
    import json
    import sqlite3

    folder = tmp_path / "data"
    folder.mkdir()
    with sqlite3.connect(folder / "jobs.sqlite3") as db:  # the first schema: no sweep column
        db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, number INTEGER NOT NULL, state TEXT NOT NULL, "
                   "request TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL, error TEXT, "
                   "error_field TEXT, result TEXT)")
        db.execute("INSERT INTO jobs VALUES ('old', 1, 'done', ?, 1.0, 1.0, 2.0, NULL, NULL, '{}')",
                   (json.dumps({"prompt": "a red circle"}),))
    store = JobStore(folder)
    job = store.get("old")
    assert job.state is JobState.done and job.kind == "generate" and job.request["prompt"] == "a red circle"
