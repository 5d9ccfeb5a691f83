"""Generated blocks inside hand-written documents: the text between a begin and an end marker
belongs to a generator (`shopfloor config-table`, `service-readmes`, `chaos catalogue`); the prose
around the markers is written by hand and kept as it is."""

from __future__ import annotations


def replace_block(document: str, begin_mark: str, end_mark: str, block: str, *, where: str) -> str:
    """`document` with the text between the markers replaced by `block` (the markers stay).

    ValueError naming `where` and the markers when either is missing or the end comes first: a
    document without its place for the block is a mistake to fix by hand, not to append to."""
    begin = document.find(begin_mark)
    end = document.find(end_mark, begin + len(begin_mark)) if begin >= 0 else -1
    if end < 0:
        raise ValueError(f"{where} has no generated block `{begin_mark}` ... `{end_mark}`")
    return document[: begin + len(begin_mark)] + "\n" + block + document[end:]
