"""sdlab's error types: every user-facing failure names what was wrong and what is allowed."""

from __future__ import annotations


class SdlabError(Exception):
    """Base class of every error sdlab reports to a user (never a traceback)."""


class UsageError(SdlabError, ValueError):
    """A bad argument: `argument` names it, `message` says what is wrong and what is allowed."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        self.message = message
        super().__init__(f"{argument}: {message}")


class ModelLoadError(UsageError):
    """A model (or LoRA) could not be found or read; `argument` names the option that pointed at it."""

    def __init__(self, message: str, argument: str = "model") -> None:
        super().__init__(argument, message)


class GenerationError(SdlabError):
    """Generation ran but its result is unusable (NaN or all-black decode)."""


class CancelledError(SdlabError):
    """A running request was cancelled by its caller."""
