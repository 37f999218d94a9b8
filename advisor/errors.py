"""One error type for bad input, so every command fails the same way: exit 2, one line."""

from __future__ import annotations

import click


class HootError(click.ClickException):
    """A bad input: printed as one line `hoot: error: <message>` on stderr, exit code 2.

    The message names the input and the fix. Raise it anywhere (also outside click
    commands); `advisor.cli.main` turns it into the one-line error.
    """

    exit_code = 2

    def format_message(self) -> str:
        return self.message

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"hoot: error: {self.format_message()}", err=True)


class NoAnswer(click.ClickException):
    """A well-formed question with no answer (e.g. nothing satisfies the constraints): exit 1."""

    exit_code = 1

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"hoot: {self.format_message()}", err=True)
