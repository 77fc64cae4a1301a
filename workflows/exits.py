"""How a ``synsweep`` command ends: the exit codes and the click exceptions that carry them.

    0    done
    2    UserError: the user's input is wrong (spec, store, file, options); one paragraph, nothing computed
    3    Incomplete: the sweep ran but some chunks failed (what was computed is kept; --resume computes the rest)
    4    ReplayMismatch: ``replay`` found values that differ from the stored ones
    130  Interrupted: Ctrl-C stopped a run

``synsweep.workflows.cli.main`` prints each as one paragraph on stderr (``synsweep: error: ...``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

import click

PROG = "synsweep"
EXIT_USER_ERROR = 2
EXIT_INCOMPLETE = 3
EXIT_REPLAY_MISMATCH = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a command a SIGTERM ended


class UserError(click.ClickException):
    """A mistake in the user's input: reported as one paragraph, exit code 2."""

    exit_code = EXIT_USER_ERROR


class Incomplete(click.ClickException):
    """The sweep ran, but some chunks failed: exit code 3."""

    exit_code = EXIT_INCOMPLETE


class ReplayMismatch(click.ClickException):
    """The replayed point differs from the stored one: exit code 4."""

    exit_code = EXIT_REPLAY_MISMATCH


class Interrupted(click.ClickException):
    """Ctrl-C (SIGINT) stopped a run: exit code 130, as for a shell's interrupted command; SIGTERM
    (``terminated``): 143."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, terminated: bool = False) -> None:
        super().__init__(message)
        if terminated:
            self.exit_code = EXIT_TERMINATED


def paragraph(message: object) -> str:
    """One paragraph: the message's lines joined, runs of whitespace collapsed."""
    return " ".join(str(message).split())


def fail(message: object) -> NoReturn:
    """Stop the command with a user error (exit 2) saying ``message`` as one paragraph."""
    raise UserError(paragraph(message))


def user_errors() -> tuple[type[BaseException], ...]:
    """The sweeps' exceptions that are the user's mistakes, each one paragraph already: a spec, option or
    TLS setting that cannot be used (SpecError and its kinds), a store that cannot be used (StoreError), a
    scheduler that cannot be reached (ClientError)."""
    from synsweep.sweeps.client import ClientError
    from synsweep.sweeps.errors import SpecError, StoreError

    return SpecError, StoreError, ClientError


def reports_user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the analysis modules' AnalysisError and the store's StoreError into user errors (exit 2), and any
    other failure of a command on a damaged store (a chunk that fails its checksum while being read) into the
    store's damage report (``synsweep.sweeps.damage``). A failure on an intact store that a run is writing is
    taken for a torn read (a shard replaced while it was read: ``store.read_block``) and the command runs once
    more; any other failure on an intact store is raised as it is."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from synsweep.sweeps import StoreError
        from synsweep.sweeps.damage import diagnose
        from synsweep.sweeps.lock import is_locked

        from .selection import AnalysisError

        for last in (False, True):  # the second run only after a torn read (below)
            try:
                return command(*args, **kwargs)
            except (AnalysisError, StoreError) as exc:
                raise UserError(paragraph(exc)) from None
            except (click.ClickException, click.Abort, KeyboardInterrupt):
                raise
            except Exception:
                result = kwargs.get("result")
                damage = diagnose(result) if result is not None else None  # local stores only
                if damage:
                    raise UserError(paragraph(damage.message())) from None
                if last or result is None or not is_locked(result):
                    raise

    return wrapper
