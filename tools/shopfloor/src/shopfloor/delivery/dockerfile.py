"""What an image is made of, read from the Dockerfile itself: the context paths that the stages of
its target COPY (or ADD), with the image's build arguments put in. `shopfloor changed` rebuilds an
image when one of these changes, so there is no second list of an image's inputs to keep in step.

Only what the repository's Dockerfile uses is understood (stages, ARG with or without a default,
COPY/ADD with flags, `$NAME` and `${NAME}`); anything else is refused with its line number rather
than guessed at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DockerfileError(Exception):
    """The Dockerfile uses something this reader does not understand, or an argument nobody set."""


@dataclass
class _Copy:
    line: int
    sources: list[str]


@dataclass
class _Stage:
    name: str | None
    base: str
    args: dict[str, str | None] = field(default_factory=dict)
    copies: list[_Copy] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)  # stages this one copies from


def _instructions(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, arguments), continuation lines joined and comments dropped."""
    found: list[tuple[int, str, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(part.strip() for part in pending)
        pending = []
        keyword, _, arguments = joined.partition(" ")
        found.append((start, keyword.upper(), arguments.strip()))
    if pending:
        raise DockerfileError(f"Dockerfile:{start}: the last instruction ends with a line continuation")
    return found


def _stages(text: str) -> list[_Stage]:
    stages: list[_Stage] = []
    for line, keyword, arguments in _instructions(text):
        if keyword == "FROM":
            words = arguments.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if len(words) not in (1, 3) or (len(words) == 3 and name is None):
                raise DockerfileError(f"Dockerfile:{line}: FROM {arguments!r} is not `FROM image [AS name]`")
            stages.append(_Stage(name, words[0]))
        elif not stages:
            continue  # global ARGs: only FROM lines can use them, and those name no context paths
        elif keyword == "ARG":
            for declaration in arguments.split():
                argument, has_default, default = declaration.partition("=")
                stages[-1].args[argument] = default if has_default else None
        elif keyword in ("COPY", "ADD"):
            stages[-1].copies.append(_copy(line, keyword, arguments, stages[-1]))
    return stages


def _copy(line: int, keyword: str, arguments: str, stage: _Stage) -> _Copy:
    if "<<" in arguments:
        raise DockerfileError(f"Dockerfile:{line}: {keyword} with a here-document is not understood")
    if arguments.startswith("["):
        try:
            words = [str(word) for word in json.loads(arguments)]
        except ValueError:
            raise DockerfileError(f"Dockerfile:{line}: {keyword} {arguments!r} is not a JSON array") from None
    else:
        words = arguments.split()
    flags = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    source_stage = next((f.partition("=")[2] for f in flags if f.startswith("--from=")), None)
    if source_stage is not None:
        stage.needs.append(source_stage)
        return _Copy(line, [])
    if len(paths) < 2:
        raise DockerfileError(f"Dockerfile:{line}: {keyword} needs a source and a destination")
    return _Copy(line, paths[:-1])


def _substitute(word: str, values: Mapping[str, str | None], line: int, image: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group("braced") if match.group("braced") is not None else match.group("plain")
        if not _NAME.fullmatch(name):
            raise DockerfileError(f"Dockerfile:{line}: ${{{name}}} is not understood (only $NAME and ${{NAME}})")
        found = values.get(name)
        if found is None:
            raise DockerfileError(f"Dockerfile:{line}: uses ${{{name}}}, which is not set for the {image} image")
        return found

    return _VARIABLE.sub(value, word)


def context_paths(text: str, target: str, build_args: Mapping[str, str], *, image: str) -> list[str]:
    """The context paths the `target` stage and every stage it builds on copy, build args put in
    (`image` names the image in errors). Folders come without a trailing slash."""
    stages = _stages(text)
    by_name = {stage.name: stage for stage in stages if stage.name}
    if target not in by_name:
        raise DockerfileError(f"Dockerfile: no stage {target!r} (stages: {', '.join(by_name)})")
    paths: set[str] = set()
    seen: set[str] = set()
    todo = [target]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        stage = by_name[name]
        values = {arg: build_args.get(arg, default) for arg, default in stage.args.items()}
        for copy in stage.copies:
            for source in copy.sources:
                path = _substitute(source, values, copy.line, image)
                if any(char in path for char in "*?["):
                    raise DockerfileError(f"Dockerfile:{copy.line}: the wildcard in {source!r} is not understood")
                paths.add(path.removeprefix("./").rstrip("/"))
        for needed in [stage.base, *stage.needs]:
            if needed in by_name:
                todo.append(needed)
            elif needed in stage.needs:
                raise DockerfileError(f"Dockerfile: stage {name!r} copies from {needed!r}, which is no stage")
    return sorted(paths)
