"""The metric names a PromQL expression reads.

No PromQL parser runs in Python here; promtool checks the syntax (the tests put every dashboard
query into a rule file). What is left to know is which names an expression selects, and PromQL's
grammar makes that a lexical question: a metric name is an identifier that is not a function
call, a keyword, a label inside `{...}` or a grouping list, or part of a string, a range or a
number. So strings, matchers, ranges and grouping lists are cut out first, and the identifiers
left that are not followed by `(` are the names.
"""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# Not the tail of a number (1e3), of another name or of a $variable; the whole identifier (no
# backing off `sum` to `su` to dodge the lookahead); not followed by `(` (a function call).
_IDENTIFIER = re.compile(r"(?<![\w.$:])[A-Za-z_:][A-Za-z0-9_:]*(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
        "start",
        "end",
    }
)


def metric_names(expr: str) -> frozenset[str]:
    """The metric names `expr` selects: `sum by (route) (rate(http_requests_total{x="y"}[5m]))`
    -> {"http_requests_total"}."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return frozenset(
        name for name in (match.group(0) for match in _IDENTIFIER.finditer(text)) if name.lower() not in _KEYWORDS
    )
