"""Generated blocks inside hand-written documents: the text between a begin and an end marker
belongs to a generator (`shopfloor config-table`, `service-readmes`, `chaos catalogue`); the prose
around the markers is written by hand and kept as it is."""

from __future__ import annotations


def _bounds(document: str, begin_mark: str, end_mark: str, where: str) -> tuple[int, int]:
    """Where the begin marker ends and the end marker starts.

    ValueError naming `where` and the markers when either is missing or the end comes first: a
    document without its place for the block is a mistake to fix by hand, not to append to."""
    begin = document.find(begin_mark)
    end = document.find(end_mark, begin + len(begin_mark)) if begin >= 0 else -1
    if end < 0:
        raise ValueError(f"{where} has no generated block `{begin_mark}` ... `{end_mark}`")
    return begin + len(begin_mark), end


def block_text(document: str, begin_mark: str, end_mark: str, *, where: str) -> str:
    """The text between the markers, as the generator last wrote it."""
    start, end = _bounds(document, begin_mark, end_mark, where)
    return document[start:end].removeprefix("\n")


def replace_block(document: str, begin_mark: str, end_mark: str, block: str, *, where: str) -> str:
    """`document` with the text between the markers replaced by `block` (the markers stay)."""
    start, end = _bounds(document, begin_mark, end_mark, where)
    return document[:start] + "\n" + block + document[end:]
