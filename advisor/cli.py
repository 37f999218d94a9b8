"""The `hoot` command group.

Subcommands live in their own modules and are imported only when invoked, so
`hoot advise` never pays for torch: the table below maps a command name to
"module:attribute". Each area (advisor, bench, trainer) owns its module.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from advisor import __version__
from advisor.errors import HootError

#: command name -> (module:attribute, one-line help shown in `hoot --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "advise": ("advisor.advise_cli:advise", "Rank catalog models for a target and task, with reasons."),
    "catalog": ("advisor.catalog_cli:catalog", "List, show, filter and check the model catalog."),
    "bench": ("bench.cli:bench", "Measure latency, throughput, FLOPs and memory on this machine."),
    "shortlist": ("trainer.cli:shortlist", "Bake-off on your images, then fine-tune the winner."),
    "export": ("trainer.cli:export", "Export a trained run to ONNX or TorchScript."),
    "predict": ("trainer.cli:predict", "Classify images with a trained run."),
    "report": ("trainer.cli:report", "Render a run into Markdown/HTML with plots."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _help = COMMANDS[name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == module_name or module_name.startswith(exc.name + ".")):
                return _missing_command(name, _help)
            raise
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text from the table, so `hoot --help` imports nothing heavy.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _missing_command(name: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def _cmd(args: tuple[str, ...]) -> None:
        raise HootError(f"'hoot {name}' is not available in this build")

    return _cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hoot")
@click.option("--debug", is_flag=True, envvar="HOOT_DEBUG", help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """hoot: pick an image-model architecture and prove the pick on your hardware and data."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one-line errors (exit 2), no tracebacks unless --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("HOOT_DEBUG") not in (None, "", "0")
    try:
        cli.main(args=args, prog_name="hoot", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("hoot: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("hoot: interrupted", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except HootError as exc:
        if debug:
            traceback.print_exc()
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:
        if debug:
            traceback.print_exc()
        if isinstance(exc, click.UsageError) and not isinstance(exc, HootError):
            # click's own usage errors (unknown option, bad choice): keep them to one line.
            click.echo(f"hoot: error: {exc.format_message()}", err=True)
            return 2
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"hoot: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
