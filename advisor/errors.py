"""hoot's exceptions: plain Python errors with typed fields, free of the terminal.

Library code raises them; only the command line (`hoot.cli.main`) turns them into a
`hoot: error: ...` line and an exit code. The message names the input and the fix.
"""

from __future__ import annotations

from typing import Any

#: Exit codes of the `hoot` command (DESIGN.md, Conventions).
EXIT_OK = 0
EXIT_NO_ANSWER = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class HootFailure(Exception):
    """Base of hoot's own errors: a message meant for the user and the exit code it maps to."""

    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def format_message(self) -> str:
        return self.message

    def __str__(self) -> str:
        return self.message


class HootError(HootFailure):
    """A bad input or an unusable environment: the CLI prints one line and exits 2."""

    exit_code = EXIT_BAD_INPUT


class NoAnswer(HootFailure):
    """A well-formed question with no answer (nothing satisfies the constraints): exit 1.

    `details` carries machine-readable context (the binding constraint, the nearest models)
    for `--format json`; set it at construction, never after.
    """

    exit_code = EXIT_NO_ANSWER

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = dict(details or {})
