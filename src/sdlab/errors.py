"""sdlab's error types: every user-facing failure names what was wrong and what is allowed.

The library raises these; each front end (the CLI, the server) turns them into its own
messages in one place, spelling `argument` the way its users wrote it (`--padding` on the
command line, `inpaint_padding` in JSON) and offering a `Fix` only where that front end has
the option it names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fix:
    """An option that would resolve the problem: `text` mentions it as {option}, e.g. "pass {option} to replace it".

    A front end shows the text only if it offers that option (the server never offers --allow-pickle)."""

    option: str
    text: str


class SdlabError(Exception):
    """Base class of every error sdlab reports to a user (never a traceback).

    `argument` is the request field or option at fault (dashed, e.g. "inpaint-padding"), or None;
    `exit_code` is what the CLI exits with: 2 for bad input, 1 for a run that failed."""

    exit_code = 1

    def __init__(self, message: str, argument: str | None = None, fix: Fix | None = None) -> None:
        self.message = message
        self.argument = argument
        self.fix = fix
        super().__init__(f"{argument}: {message}" if argument else message)


class UsageError(SdlabError, ValueError):
    """A bad argument: `argument` names it, `message` says what is wrong and what is allowed."""

    exit_code = 2

    def __init__(self, argument: str, message: str, fix: Fix | None = None) -> None:
        super().__init__(message, argument, fix)


class ModelLoadError(UsageError):
    """A model (or LoRA) could not be found or read; `argument` names the option that pointed at it."""

    def __init__(self, message: str, argument: str = "model", fix: Fix | None = None) -> None:
        super().__init__(argument, message, fix)


class OutputError(SdlabError):
    """An output could not be written (read-only folder, disk full, ...); nothing half-written is left."""

    def __init__(self, message: str, argument: str = "output") -> None:
        super().__init__(message, argument)


class QueueFull(SdlabError):
    """Too many jobs are waiting; `retry_after` says in how many seconds to try again (HTTP 429)."""

    def __init__(self, message: str, retry_after: int = 10) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutOfMemoryError(SdlabError):
    """The device ran out of memory; the message says what to lower."""


class GenerationError(SdlabError):
    """Generation ran but its result is unusable (NaN or all-black decode)."""

