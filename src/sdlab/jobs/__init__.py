"""Jobs: generation requests stored on disk and run in order by a worker, for front ends that serve many callers."""

from sdlab.jobs.queue import JobQueue
from sdlab.jobs.store import Job, JobState, JobStore

__all__ = ["Job", "JobQueue", "JobState", "JobStore"]
