"""Where the CLI turns every failure into one line on stderr (and an exit code), never a traceback.

`SdlabGroup.main` handles what click finds while parsing (unknown options, bad numbers) and
`SdlabCommand.invoke` what a command raises: sdlab's errors exit 2 (bad input) or 1 (a run
that failed), naming the option as the user typed it (`-o`, `--padding`); anything else is a
bug, shown as one line that says how to see the traceback (`--debug`, anywhere on the line,
or SDLAB_DEBUG=1).
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Sequence

import typer
from typer._click import exceptions as click_errors  # typer vendors click; its errors live here
from typer._click.core import Command, Context
from typer._click.globals import get_current_context
from typer.core import TyperCommand, TyperGroup

from sdlab.cli.common import FIELD_FOR_OPTION
from sdlab.errors import SdlabError

DEBUG_FLAG = "--debug"
OPTION_FOR_FIELD = {field: option for option, field in FIELD_FOR_OPTION.items()}


@dataclass
class CliState:
    """What the whole command line shares: the words typed (to spell options back) and --debug."""

    args: list[str] = field(default_factory=list)
    debug: bool = False


def state() -> CliState:
    """The running command line's state (a fresh one outside a command, e.g. when called from Python)."""
    ctx = get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, CliState) else CliState(debug=_debug_env())


def _debug_env() -> bool:
    return os.environ.get("SDLAB_DEBUG", "").lower() in ("1", "true", "yes", "on")


def option_spelling(argument: str, command: Command | None, typed: Sequence[str]) -> str:
    """How the user wrote the option an error names: the flag they typed (`-o`), else its long form, else the name."""
    key = argument.replace("-", "_")
    key = OPTION_FOR_FIELD.get(key, key)
    for param in command.params if command is not None else ():
        if param.name != key:
            continue
        if param.param_type_name != "option":
            return argument  # a positional argument: its own name
        flags = list(param.opts) + list(param.secondary_opts)
        used = [o for o in flags if o in typed or any(t.startswith(o + "=") for t in typed)]
        return used[0] if used else next((o for o in flags if o.startswith("--")), flags[0])
    return argument


def offers(command: Command | None, option: str) -> bool:
    key = OPTION_FOR_FIELD.get(option, option)
    return command is not None and any(p.name == key for p in command.params)


def message(exc: SdlabError, command: Command | None, typed: Sequence[str]) -> str:
    """One line for an sdlab error: the option as typed, what is wrong, and a fix this command offers."""
    text = exc.message
    if exc.fix is not None and offers(command, exc.fix.option):
        fix = exc.fix.text.format(option=option_spelling(exc.fix.option, command, typed))
        text += (", " if fix.startswith("or ") else "; ") + fix
    text = " ".join(text.split())  # one line, whatever a library put in the message
    if exc.argument:
        return f"error: {option_spelling(exc.argument, command, typed)}: {text}"
    return f"error: {text}"


def unexpected(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    detail = f": {lines[0]}" if lines else ""
    return f"error: unexpected {exc.__class__.__name__}{detail} (a bug in sdlab; run with {DEBUG_FLAG} for the traceback)"


class SdlabCommand(TyperCommand):
    """A command whose failures become one line and an exit code."""

    def invoke(self, ctx: Context) -> Any:
        current = state()
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click_errors.ClickException):
            raise
        except SdlabError as exc:
            if current.debug:
                traceback.print_exc()
            typer.echo(message(exc, self, current.args), err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes a message
            if current.debug:
                traceback.print_exc()
            typer.echo(unexpected(exc), err=True)
            raise typer.Exit(1) from None


class SdlabGroup(TyperGroup):
    """The `sdlab` command group: parse errors as one line, --debug taken from anywhere on the line."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        words = list(sys.argv[1:] if args is None else args)
        end = words.index("--") if "--" in words else len(words)
        debug = DEBUG_FLAG in words[:end] or _debug_env()
        words = [w for i, w in enumerate(words) if not (i < end and w == DEBUG_FLAG)]
        extra.setdefault("obj", CliState(words, debug))
        try:
            code = super().main(words, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.ClickException as exc:
            code = exc.exit_code
            text = exc.format_message().strip().replace("\n", " ")
            where = getattr(getattr(exc, "ctx", None), "command_path", None)
            hint = f" (see '{where} --help')" if isinstance(exc, click_errors.UsageError) and where else ""
            if text:  # `sdlab` alone prints its help and raises an empty usage error
                typer.echo(f"error: {text}{hint}", err=True)
        except typer.Abort:
            typer.echo("aborted", err=True)
            code = 1
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code
