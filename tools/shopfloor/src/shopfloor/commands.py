"""How a command group joins `shopfloor`, and the argument types the groups share.

A group is a subpackage with a `cli.py` (shopfloor/local/cli.py, shopfloor/delivery/cli.py, ...)
that has `TITLE` (its heading in `shopfloor --help`) and `register(group)`, which adds the group's
commands: each with its arguments and a handler `(args) -> exit code`. The work itself lives in a
module named after the command (`run` in local/run.py, `check-consistency` in
measure/check_consistency.py); handlers import it when they run, so `shopfloor --help` and a
command that needs little (the in-cluster `smoke`) import only what they use.

Errors a handler does not catch: CommandError and RepoNotFound print `shopfloor <command>: <message>`
and exit 2 (bad input or a refused operation).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from shopfloor.local import DEFAULT_EDGE_PORT
from shopfloor.repo import find_repo_root

Handler = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """Refused or failed in a way the user can fix; the message says how (exit 2)."""


class CommandGroup:
    """What a group's `register` adds its commands to."""

    def __init__(self, title: str, subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self.title = title
        self._subcommands = subcommands
        self.listing: list[tuple[str, str]] = []

    def add(self, name: str, *, help: str, handler: Handler, description: str | None = None) -> argparse.ArgumentParser:
        parser = self._subcommands.add_parser(
            name, description=description or help, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.set_defaults(handler=handler)
        self.listing.append((name, help))
        return parser


def repo_root(args: argparse.Namespace) -> Path:
    """The repository a command works on: --repo, else found from the working directory."""
    explicit: Path | None = getattr(args, "repo", None)
    return explicit.resolve() if explicit else find_repo_root()


# --- argument types ------------------------------------------------------------------------------


def port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400, got {text!r}")
    return value


def name_port(text: str) -> tuple[str, int]:
    name, sep, number = text.partition("=")
    if not sep or not name or not number.isdigit() or not 1 <= int(number) <= 65535:
        raise argparse.ArgumentTypeError(f"expected SERVICE=PORT (e.g. catalog=18081), got {text!r}")
    return name, int(number)


def prefix_url(text: str) -> tuple[str, str]:
    prefix, sep, url = text.partition("=")
    if not sep or not prefix.startswith("/") or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected PREFIX=URL (e.g. /api=http://127.0.0.1:8080), got {text!r}")
    return prefix, url


def env_port(variable: str, default: int) -> int:
    """$<variable> as a TCP port, else `default`."""
    value = os.environ.get(variable)
    if value is None:
        return default
    try:
        return port(value)
    except argparse.ArgumentTypeError:
        raise CommandError(f"{variable}: not a TCP port: {value!r}") from None


def default_edge_port() -> int:
    """$EDGE_PORT, else 8000: where the local shop's edge listens."""
    return env_port("EDGE_PORT", DEFAULT_EDGE_PORT)


def write_or_check_files(
    args: argparse.Namespace,
    repo: Path,
    changes: Mapping[Path, tuple[str, str]],
    *,
    printed: str,
    command: str,
    what: str | None = None,
) -> int:
    """The generated-docs commands' shared ending (`--write`, `--check`, else print `printed`).

    `changes` maps each file (relative to the repo) to its current and its generated text. --check
    names every stale file and exits 1; --write rewrites only the stale ones. `what` is the generated
    part of a file (a table in a README); without it the message is about the whole file."""
    if not (args.write or args.check):
        print(printed, end="")
        return 0
    stale = [path for path, (current, generated) in changes.items() if current != generated]
    if args.check:
        for path in stale:
            subject = f"{path}'s {what}" if what else str(path)
            print(f"{subject} is out of date: run `{command} --write`")
        return 1 if stale else 0
    for path in stale:
        (repo / path).write_text(changes[path][1], encoding="utf-8")
        print(f"updated the {what} in {path}" if what else f"updated {path}")
    return 0


def write_or_check_block(
    args: argparse.Namespace,
    repo: Path,
    doc_file: Path,
    block: str,
    replace: Callable[[str, str], str],
    *,
    what: str,
    command: str,
) -> int:
    """write_or_check_files for one generated block of one document: `replace(document, block)` puts
    the block in place of the old one (a ValueError when the document has no place for it)."""
    if not (args.write or args.check):
        print(block, end="")
        return 0
    try:
        current = (repo / doc_file).read_text(encoding="utf-8")
        updated = replace(current, block)
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    return write_or_check_files(args, repo, {doc_file: (current, updated)}, printed=block, what=what, command=command)
