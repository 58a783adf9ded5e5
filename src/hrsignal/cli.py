"""The ``hrsignal`` command line: a thin layer over the library.

Each domain package owns its commands in a ``commands`` module; this module only wires them
into one group, lazily, so ``hrsignal validate`` does not pay for importing the web server.
Errors are converted here and nowhere else: an :class:`~hrsignal.errors.HrsignalError` becomes
a one-line message on stderr and its exit code (0 ok, 1 data rejected, 2 usage or
unreadable input, 3-5 upload failures); a traceback is only ever a bug.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from hrsignal import __version__
from hrsignal.errors import HrsignalError

#: command name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "validate": "hrsignal.scenarios.commands:validate_command",
    "normalize": "hrsignal.scenarios.commands:normalize_command",
    "scenarios": "hrsignal.scenarios.commands:scenarios_group",
    "upload": "hrsignal.client.commands:upload_command",
    "watch": "hrsignal.client.commands:watch_command",
    "doctor": "hrsignal.client.commands:doctor_command",
    "serve": "hrsignal.server.commands:serve_command",
    "apps": "hrsignal.server.commands:apps_group",
    "connectors": "hrsignal.server.commands:connectors_group",
    "purge": "hrsignal.server.commands:purge_command",
    "risk": "hrsignal.risk.commands:risk_group",
    "eval": "hrsignal.evaluation.commands:eval_group",
    "demo": "hrsignal.demo.commands:demo_command",
    "users": "hrsignal.web.commands:users_group",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _importable(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("hrsignal"):
                return None  # that part of hrsignal is not built yet
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None


def _importable(name: str) -> bool:
    module_name = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hrsignal")
def cli() -> None:
    """hrsignal: validate, upload and serve HR data for insider risk management."""


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; convert hrsignal errors into a message and an exit code."""
    try:
        return cli.main(args=argv, prog_name="hrsignal", standalone_mode=True)
    except HrsignalError as exc:  # raised outside a command's own handling
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
