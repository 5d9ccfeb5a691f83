"""docs/requirements.md stays true: every path and test it names exists, every row has its stable
anchor and a known status, both source documents are covered row for row, and every requirement id
the repository cites (FR-x.y, NFR-x, PRD x.y, spec x.y, Requirement x, Req x.y) has a row to land on.
Each check is also shown failing on a broken copy of the document or a made-up citation."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCUMENT = REPO / "docs" / "requirements.md"
SOURCES = ("prd", "spec")
STATUS = re.compile(r"done(?:\s+\(.+\))?|(?:partly|planned):\s*\S.*")
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
SOURCE_HEADING = re.compile(r'^##\s+<a id="([^"]+)"></a>')
CODE_SPAN = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
NONE = "—"

# How the sources number their requirements: FR-<group>.<n> per group, NFR-1..6 and the sections
# the repository cites (PRD); Requirement <n> with its numbered acceptance criteria (spec).
PRD_FUNCTIONAL = {1: 4, 2: 4, 3: 2, 4: 2, 5: 2, 6: 6}
PRD_NON_FUNCTIONAL = 6
PRD_SECTIONS = ("2.2", "2.3", "2.4", "5", "6", "7")
SPEC_CRITERIA = {1: 4, 2: 5, 3: 5, 4: 5, 5: 4, 6: 3, 7: 4, 8: 4, 9: 4, 10: 4}

# Citations as the repository writes them. FR-1.2-1.3 and spec 5.1-5.2 are ranges, NFR-2/4 a list.
PRD_ID = re.compile(r"\b(N?FR)-(\d+)(?:\.(\d+))?((?:[-–/]\d+(?:\.\d+)?)*)")
PRD_SECTION = re.compile(r"\bPRD\s+(\d+(?:\.\d+)?)\b")
# "The spec's 30 %" is a figure, not a citation: a number followed by % never is one.
SPEC_ID = re.compile(
    r"\b(?:spec's\s+requirement|spec(?:\s+requirement)?|requirement|req)\.?\s+"
    r"(\d+)(?:\.(\d+))?((?:[-–]\d+\.\d+)?)(?![\d.%]|\s*%)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Row:
    line: int
    source: str
    ident: str
    anchors: tuple[str, ...]
    implemented: str
    checked: str
    status: str

    @property
    def where(self) -> str:
        return f"line {self.line} ({self.source} {self.ident})"


def anchor(source: str, ident: str) -> str:
    return f"{source}-{ident.lower().replace('.', '-')}"


def rows(text: str) -> Iterator[Row]:
    source = ""
    for number, line in enumerate(text.splitlines(), start=1):
        heading = SOURCE_HEADING.match(line)
        if heading:
            source = heading.group(1)
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "id":
            continue
        if len(cells) != 5:
            raise ValueError(
                f"line {number}: {len(cells)} cells, not 5 (id, requirement, implemented, checked, status)"
            )
        first, _, implemented, checked, status = cells
        yield Row(
            number, source, ANCHOR.sub("", first).strip(), tuple(ANCHOR.findall(first)), implemented, checked, status
        )


def without_notes(cell: str) -> str:
    """Parenthesised notes are free text: only the code spans outside them are references."""
    previous = None
    while previous != cell:
        previous, cell = cell, re.sub(r"\([^()]*\)", "", cell)
    return cell


@cache
def file_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def defines(path: Path, name: str) -> bool:
    text = file_text(path)
    if path.suffix != ".py":
        return name in text
    pattern = rf"^\s*(?:async\s+def|def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*[:=]"
    return re.search(pattern, text, re.MULTILINE) is not None


def reference_problems(row: Row, cell: str, column: str, repo: Path) -> list[str]:
    """Each code span of the cell is `path`, `path::name` or `::name` (the path named last)."""
    problems = []
    last_path: Path | None = None
    names = []
    for reference in CODE_SPAN.findall(without_notes(cell)):
        path_part, _, name = reference.partition("::")
        if path_part:
            matches = sorted(repo.glob(path_part)) if "*" in path_part else [repo / path_part]
            if not matches or not all(match.exists() for match in matches):
                problems.append(f"{row.where}: {column} names {path_part}, which does not exist")
                last_path = None
                continue
            last_path = matches[0]
        if name:
            names.append(name)
            if last_path is None:
                problems.append(f"{row.where}: {column} names ::{name} without a file before it")
            elif not last_path.is_file() or not defines(last_path, name):
                problems.append(f"{row.where}: {column}: {last_path.relative_to(repo)} does not define {name}")
        elif column == "checked by":
            problems.append(f"{row.where}: checked by names {path_part} but no test in it")
    if column == "checked by" and cell != NONE and not any(name.startswith("test_") for name in names):
        problems.append(f"{row.where}: checked by names no test_ function")
    return problems


def document_problems(text: str, repo: Path = REPO) -> list[str]:
    """Everything wrong with the document, one sentence each."""
    problems = []
    counted = Counter(ANCHOR.findall(text))
    problems += [f"anchor {name} is used {count} times" for name, count in sorted(counted.items()) if count > 1]
    for target in LINK.findall(text):
        path = target.split("#")[0]
        if path and "://" not in path and not (DOCUMENT.parent / path).resolve().exists():
            problems.append(f"link to {path}, which does not exist")
    for row in rows(text):
        if row.source not in SOURCES:
            problems.append(f"{row.where}: the table is not under a PRD or spec heading")
        own = anchor(row.source, row.ident)
        if own not in row.anchors:
            problems.append(f"{row.where}: no anchor {own}")
        for extra in set(row.anchors) - {own}:
            if not own.startswith(extra + "-"):
                problems.append(f"{row.where}: anchor {extra} is neither its own nor its group's")
        if not STATUS.fullmatch(row.status):
            problems.append(
                f"{row.where}: status {row.status!r} is not 'done', 'partly: <what is missing>' or 'planned: <area>'"
            )
        if row.status.startswith("done") and row.checked == NONE:
            problems.append(f"{row.where}: done, but no test checks it")
        problems += reference_problems(row, row.implemented, "implemented in", repo)
        problems += reference_problems(row, row.checked, "checked by", repo)
    return problems


def expected_idents() -> dict[str, list[str]]:
    functional = [f"FR-{group}.{n}" for group, count in PRD_FUNCTIONAL.items() for n in range(1, count + 1)]
    non_functional = [f"NFR-{n}" for n in range(1, PRD_NON_FUNCTIONAL + 1)]
    spec = [f"{group}.{n}" for group, count in SPEC_CRITERIA.items() for n in range(1, count + 1)]
    return {"prd": sorted([*PRD_SECTIONS, *functional, *non_functional]), "spec": sorted(spec)}


def _numbers(head_major: int, head_minor: int | None, rest: str) -> list[tuple[int, int | None]]:
    """FR-1.2-1.3 -> 1.2, 1.3; FR-2.1-2.3 -> 2.1..2.3; NFR-2/4 -> 2, 4."""
    found: list[tuple[int, int | None]] = [(head_major, head_minor)]
    for separator, major_text, minor_text in re.findall(r"([-–/])(\d+)(?:\.(\d+))?", rest):
        major, minor = int(major_text), int(minor_text) if minor_text else None
        if minor is None and head_minor is not None:
            major, minor = head_major, major
        previous_major, previous_minor = found[-1]
        if separator != "/" and major == previous_major and minor is not None and previous_minor is not None:
            found += [(major, n) for n in range(previous_minor + 1, minor + 1)]
        else:
            found.append((major, minor))
    return found


def cited_anchors(text: str) -> list[tuple[int, str, str]]:
    """(line, citation as written, anchor it needs) for every requirement id the text cites."""
    cited = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in PRD_ID.finditer(line):
            kind, major, minor, rest = match.groups()
            for got_major, got_minor in _numbers(int(major), int(minor) if minor else None, rest):
                ident = f"{kind}-{got_major}" + (f".{got_minor}" if got_minor is not None else "")
                cited.append((number, match.group(0), anchor("prd", ident)))
        for match in PRD_SECTION.finditer(line):
            cited.append((number, match.group(0), anchor("prd", match.group(1))))
        for match in SPEC_ID.finditer(line):
            major, minor, rest = match.groups()
            for got_major, got_minor in _numbers(int(major), int(minor) if minor else None, rest):
                ident = f"{got_major}" + (f".{got_minor}" if got_minor is not None else "")
                cited.append((number, match.group(0), anchor("spec", ident)))
    return cited


def citation_problems(anchors: set[str], files: Iterable[tuple[str, str]]) -> list[str]:
    return [
        f"{name}:{line}: {citation} has no row in docs/requirements.md (#{needed})"
        for name, text in files
        for line, citation, needed in cited_anchors(text)
        if needed not in anchors
    ]


def repository_texts() -> Iterator[tuple[str, str]]:
    """Tracked files and new ones not ignored, as text; this document and this test excluded."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        pytest.fail(f"cannot list the repository's files (git ls-files in {REPO}): {listed.stderr.strip()}")
    skipped = {DOCUMENT, Path(__file__).resolve()}
    for name in listed.stdout.splitlines():
        path = REPO / name
        if path in skipped or not path.is_file():
            continue
        try:
            yield name, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binaries cite nothing


# --- the document as it is --------------------------------------------------------------------


def test_every_path_and_test_the_document_names_exists() -> None:
    assert document_problems(file_text(DOCUMENT)) == []


def test_each_source_requirement_has_exactly_one_row() -> None:
    found: dict[str, list[str]] = {source: [] for source in SOURCES}
    for row in rows(file_text(DOCUMENT)):
        found[row.source].append(row.ident)
    assert {source: sorted(idents) for source, idents in found.items()} == expected_idents()


def test_every_requirement_id_the_repository_cites_has_a_row() -> None:
    anchors = set(ANCHOR.findall(file_text(DOCUMENT)))
    texts = list(repository_texts())
    assert len(texts) > 100, "git ls-files listed too few files to be this repository"
    assert sum(len(cited_anchors(text)) for _, text in texts) > 0, "no citation found: are the patterns still right?"
    assert citation_problems(anchors, texts) == []


# --- the checks, shown failing -----------------------------------------------------------------


def broken(old: str, new: str) -> str:
    text = file_text(DOCUMENT)
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_test_that_does_not_exist_is_reported() -> None:
    text = broken("`::test_one_replica_is_caught`", "`::test_two_replicas_are_caught`")
    line = line_of(text, "test_two_replicas_are_caught")
    assert document_problems(text) == [
        f"line {line} (prd FR-1.3): checked by: tests/charts/test_chart_conformance.py does not define "
        "test_two_replicas_are_caught"
    ]


def test_a_path_that_does_not_exist_is_reported() -> None:
    text = broken("| `Dockerfile` |", "| `apps/*/Containerfile` |")
    line = line_of(text, "Containerfile")
    assert document_problems(text) == [
        f"line {line} (prd FR-1.1): implemented in names apps/*/Containerfile, which does not exist"
    ]


def test_a_checked_by_cell_without_a_test_is_reported() -> None:
    cell = "`tests/charts/test_chart_contracts.py::test_the_node_port_option_is_reachable_and_allowed`"
    text = broken(cell, "`tests/charts/chartkit.py::check_network_flow`, `tests/charts/`")
    line = line_of(text, "prd-fr-2-4")
    assert document_problems(text) == [
        f"line {line} (prd FR-2.4): checked by names tests/charts/ but no test in it",
        f"line {line} (prd FR-2.4): checked by names no test_ function",
    ]


def test_a_reused_anchor_is_reported() -> None:
    text = broken('<a id="prd-fr-1-4"></a>', '<a id="prd-fr-1-3"></a>')
    line = line_of(text, "FR-1.4 |")
    assert document_problems(text) == [
        "anchor prd-fr-1-3 is used 2 times",
        f"line {line} (prd FR-1.4): no anchor prd-fr-1-4",
        f"line {line} (prd FR-1.4): anchor prd-fr-1-3 is neither its own nor its group's",
    ]


def test_an_unknown_status_and_an_untested_done_are_reported() -> None:
    text = broken("| done (the HPA scales on CPU only) |", "| finished |")
    text = text.replace(
        "`tests/charts/test_chart_contracts.py::test_the_node_port_option_is_reachable_and_allowed` | done |",
        "— | done |",
    )
    status_line, done_line = line_of(text, "| finished |"), line_of(text, "prd-fr-2-4")
    assert document_problems(text) == [
        f"line {done_line} (prd FR-2.4): done, but no test checks it",
        f"line {status_line} (prd NFR-3): status 'finished' is not 'done', 'partly: <what is missing>' or "
        "'planned: <area>'",
    ]


def test_a_partly_without_what_is_missing_is_reported() -> None:
    text = broken(
        "| partly: the web UI exists and is tested in Chromium, but it is server-rendered pages with plain JavaScript, "
        "not React or Vue.js |",
        "| partly |",
    )
    line = line_of(text, "spec-2-1")
    assert document_problems(text) == [
        f"line {line} (spec 2.1): status 'partly' is not 'done', 'partly: <what is missing>' or 'planned: <area>'"
    ]


def test_a_dead_link_is_reported() -> None:
    text = broken("(../tests/test_docs_requirements.py)", "(../tests/test_docs_requirement.py)")
    assert document_problems(text) == ["link to ../tests/test_docs_requirement.py, which does not exist"]


def test_a_dropped_row_is_caught() -> None:
    text = file_text(DOCUMENT)
    kept = "\n".join(line for line in text.splitlines() if 'id="spec-8-2"' not in line)
    found = sorted(row.ident for row in rows(kept) if row.source == "spec")
    assert found != expected_idents()["spec"]
    assert set(expected_idents()["spec"]) - set(found) == {"8.2"}


@pytest.mark.parametrize(
    ("text", "anchors"),
    [
        ("| FR-1.2-1.3 Deployments, >= 2 pods |", ["prd-fr-1-2", "prd-fr-1-3"]),
        ("FR-2.1-2.3 Ingress", ["prd-fr-2-1", "prd-fr-2-2", "prd-fr-2-3"]),
        ('"""PRD FR-2.4: http://<node-ip>:30080', ["prd-fr-2-4"]),
        ("FR-6.5 / NFR-2: a rollout drops no request", ["prd-fr-6-5", "prd-nfr-2"]),
        ("what the PRD (2.3, FR-1..FR-6, NFR-2/4) asks", ["prd-fr-1", "prd-fr-6", "prd-nfr-2", "prd-nfr-4"]),
        ("# -- PRD 2.3: postgresql-service port 5432", ["prd-2-3"]),
        ("| spec 5.1-5.2 HPA |", ["spec-5-1", "spec-5-2"]),
        ("# -- Spec requirement 5.1: scale out above 70%", ["spec-5-1"]),
        ("# The spec's Requirement 5.1: scale out", ["spec-5-1"]),
        ("NFR-4 / Requirement 8: one ServiceAccount", ["prd-nfr-4", "spec-8"]),
        ("| metrics-server (spec 1.4) |", ["spec-1-4"]),
        ("as Req 4.2 asks", ["spec-4-2"]),
        ("~770 req/s, X-Request-ID, requirements/dev.txt, FREQ-1, the spec's 30 %", []),
    ],
)
def test_citations_are_found_as_the_repository_writes_them(text: str, anchors: list[str]) -> None:
    assert sorted(needed for _, _, needed in cited_anchors(text)) == sorted(anchors)


def test_a_citation_without_a_row_is_reported() -> None:
    anchors = set(ANCHOR.findall(file_text(DOCUMENT)))
    files = [("docs/new.md", "Fine: FR-1.3.\nMade up: FR-9.9 and spec 11.2, and NFR-7.\n")]
    assert citation_problems(anchors, files) == [
        "docs/new.md:2: FR-9.9 has no row in docs/requirements.md (#prd-fr-9-9)",
        "docs/new.md:2: NFR-7 has no row in docs/requirements.md (#prd-nfr-7)",
        "docs/new.md:2: spec 11.2 has no row in docs/requirements.md (#spec-11-2)",
    ]
