"""Exit codes and the one-line errors of the command line tool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from dpo_frames import errors as e

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "EXIT_EMPTY",
    "EXIT_INTERRUPTED",
    "EXIT_JOB",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_PLATFORM",
    "EXIT_USAGE",
    "CliError",
    "exit_code_for",
    "one_line",
    "reraise_as",
]

EXIT_OK = 0
"""Success."""
EXIT_FAILURE = 1
"""An unexpected internal error (a bug: please report it)."""
EXIT_USAGE = 2
"""Bad usage: unknown option, invalid value, output exists without ``--overwrite`` (click's code)."""
EXIT_BAD_INPUT = 3
"""Bad input: unreadable or malformed source file, not a run directory, failing SQL, missing dataset files."""
EXIT_PLATFORM = 4
"""The NeMo platform failed: unreachable, refused the request, answered an error."""
EXIT_JOB = 5
"""A customization job failed, was cancelled, or did not finish in time."""
EXIT_OUTPUT = 6
"""An output cannot be written: permission denied, a read-only file system, no space left."""
EXIT_EMPTY = 7
"""Nothing to build from: no candidates, or no pairs (unless ``--allow-empty``)."""
EXIT_INTERRUPTED = 130
"""Interrupted (Ctrl-C); what was being written is left as it was before."""

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 2 usage (options, an output in the way, a missing extra); 3 bad input (a source, a "
    "directory, SQL, dataset files); 4 platform or cluster error; 5 job failed, cancelled or timed out; 6 an output "
    "cannot be written (permission, no space left); 7 nothing to build from (no candidates or no pairs); "
    "130 interrupted; 1 a bug (please report it)."
)


EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (e.LegacyRunDirError, EXIT_USAGE),
    (e.OutputExistsError, EXIT_USAGE),
    (e.OutputWriteError, EXIT_OUTPUT),
    (e.EmptyResultError, EXIT_EMPTY),
    (e.ConfigError, EXIT_USAGE),
    (e.MissingExtraError, EXIT_USAGE),
    (e.SourceError, EXIT_BAD_INPUT),
    (e.SchemaError, EXIT_BAD_INPUT),
    (e.FrameNotFoundError, EXIT_BAD_INPUT),
    (e.RunDirError, EXIT_BAD_INPUT),
    (e.SqlError, EXIT_BAD_INPUT),
    (e.LocalDatasetError, EXIT_BAD_INPUT),
    (e.EmulatorStateError, EXIT_BAD_INPUT),
    (e.RunConflictError, EXIT_BAD_INPUT),
    (e.JobError, EXIT_JOB),
    (e.CustomizerError, EXIT_PLATFORM),
    (e.ClusterError, EXIT_PLATFORM),
    (e.EmulatorStartError, EXIT_PLATFORM),
    (e.HubError, EXIT_PLATFORM),
    (e.ScaleError, EXIT_FAILURE),
)
"""dpo_frames' errors and their exit codes, most specific first; any other is a bug (1)."""


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error the commands let through."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return EXIT_FAILURE


def one_line(exc: BaseException | str, *, all_lines: bool = False) -> str:
    """A message on one line: the first line of the text (or all lines joined with ``; ``), whitespace squeezed."""
    text = str(exc).strip() or type(exc).__name__
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    return "; ".join(lines) if all_lines else lines[0]


class CliError(click.ClickException):
    """An expected failure: printed as one line on stderr, exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click types it ClassVar; click reads it off the instance

    def show(self, file=None) -> None:  # click's signature
        click.echo(f"dpo-frames: error: {self.format_message()}", file=file, err=True)


@contextmanager
def reraise_as(
    exit_code: int, *errors: type[BaseException], prefix: str = "", all_lines: bool = False
) -> Iterator[None]:
    """Turn errors raised in the block into a :class:`CliError` whose message starts with ``prefix``.

    dpo_frames' own errors get the exit code of their class (:func:`exit_code_for`); the
    library ``errors`` listed (``OSError``, Polars' errors, ...) get ``exit_code``.
    """
    try:
        yield
    except CliError:
        raise
    except e.OutputWriteError as exc:  # names the file it could not write: no reading prefix before it
        raise CliError(one_line(exc, all_lines=all_lines), EXIT_OUTPUT) from exc
    except e.DpoFramesError as exc:
        raise CliError(f"{prefix}{one_line(exc, all_lines=all_lines)}", exit_code_for(exc)) from exc
    except errors as exc:
        raise CliError(f"{prefix}{one_line(exc, all_lines=all_lines)}", exit_code) from exc
