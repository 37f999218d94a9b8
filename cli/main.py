"""The `hoot` command group and the one place errors become exit codes.

Every subcommand module is imported here directly (no string table): each keeps its own
module-level imports light (click, the catalog, sqlite) and imports torch inside the
command that needs it, so `hoot advise` never pays for torch.

Exit codes (DESIGN.md): 0 success, 1 no answer, 2 bad input, 3 internal error,
130 interrupted.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback

import click

from hoot.advisor import __version__
from hoot.advisor.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, HootError, HootFailure, NoAnswer
from hoot.cli.advise import advise
from hoot.cli.bench import bench
from hoot.cli.catalog import catalog
from hoot.cli.health import doctor, explain
from hoot.cli.optimize import optimize
from hoot.cli.runs import export, predict, report, shortlist


class _StderrHandler(logging.Handler):
    """hoot's library code logs; the CLI shows those records on stderr as `hoot: ...` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "hoot: warning: " if record.levelno >= logging.WARNING else "hoot: "
        try:
            click.echo(prefix + record.getMessage(), err=True)
        except Exception:  # noqa: BLE001 - a closed stderr must not turn into a crash
            self.handleError(record)


class _LibraryHandler(logging.StreamHandler):
    """Other libraries' log records on stderr with --debug; without it, nowhere (see configure_logging)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))


def enable_hoot_loggers() -> None:
    """A library's logging.config call (alembic's env.py under Optuna's schema migration) disables
    every logger that existed then; hoot's own progress lines are never meant to be silent."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and (name == "hoot" or name.startswith("hoot.")):
            logger.disabled = False


def configure_logging(debug: bool = False) -> None:
    """Route the `hoot` logger to stderr once (idempotent); DEBUG records only with --debug.
    Libraries' warnings (torchvision FutureWarnings, torch UserWarnings, matplotlib's cache notice) are
    for hoot's developers, not its users: they go to the log and show only with --debug, so stderr
    carries hoot's own lines, whole and once each."""
    logger = logging.getLogger("hoot")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    # hoot's records reach stderr through its own handler only: a library that calls logging.warning()
    # at module level installs a root handler (logging.basicConfig) mid-run, which would print every
    # hoot line a second time as "INFO:hoot....". The root logger gets a handler of its own first:
    # other libraries' log records (torch.export's graph dumps, absl) show with --debug only.
    logger.propagate = False
    if not any(isinstance(h, _LibraryHandler) for h in logging.root.handlers):
        logging.root.addHandler(_LibraryHandler())
    for h in logging.root.handlers:
        if isinstance(h, _LibraryHandler):
            h.setLevel(logging.DEBUG if debug else logging.CRITICAL + 1)
    logging.captureWarnings(True)
    library = logging.getLogger("py.warnings")
    library.propagate = False
    if not any(isinstance(h, _StderrHandler) for h in library.handlers):
        library.addHandler(_StderrHandler())
    library.setLevel(logging.WARNING if debug else logging.CRITICAL)
    # cache-folder and "No CUDA runtime" notices; torch's pytree deprecation notice (ExecuTorch's import)
    for name in ("matplotlib", "torch.utils.cpp_extension", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.ERROR)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hoot")
@click.option("--debug", is_flag=True, envvar="HOOT_DEBUG", help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """hoot: pick an image-model architecture and prove the pick on your hardware and data."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    enable_hoot_loggers()


for _command in (advise, bench, catalog, doctor, explain, export, optimize, predict, report, shortlist):
    cli.add_command(_command)


def _wants_debug(args: list[str]) -> bool:
    """--debug anywhere on the line (before or after the subcommand) or HOOT_DEBUG set."""
    return "--debug" in args or os.environ.get("HOOT_DEBUG") not in (None, "", "0")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors, no tracebacks unless --debug, distinct exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _wants_debug(args)
    if debug:
        # accepted wherever a user puts it: click only knows it on the group, before the subcommand
        args = ["--debug", *[a for a in args if a != "--debug"]]
    configure_logging(debug)
    try:
        cli.main(args=args, prog_name="hoot", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        said = exc.args or getattr(exc.__cause__, "args", ())  # click wraps Ctrl-C in Abort; the command's own line wins
        click.echo(f"hoot: {said[0] if said else 'interrupted'}", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except HootFailure as exc:
        if debug:
            traceback.print_exc()
        prefix = "hoot: " if isinstance(exc, NoAnswer) else "hoot: error: "
        click.echo(prefix + exc.format_message(), err=True)
        return exc.exit_code
    except click.ClickException as exc:
        if debug:
            traceback.print_exc()
        # click's own usage errors (unknown option, bad choice, bad number): one line, exit 2
        click.echo(f"hoot: error: {exc.format_message()}", err=True)
        return EXIT_BAD_INPUT if isinstance(exc, click.UsageError) else exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_INTERNAL
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"hoot: error: internal error {type(exc).__name__}: {exc} "
                       "(run with --debug for the traceback and report it)", err=True)
        return EXIT_INTERNAL
    return 0


__all__ = ["cli", "main", "configure_logging", "HootError"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
