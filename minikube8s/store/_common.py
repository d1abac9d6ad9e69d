"""Small helpers shared by the in-process backends (memory.py, sqlite.py): URL options and
prefix ranges. Nothing here is part of the Backend protocol; etcd.py does not need it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from .base import StoreError

# The largest code point: every key that starts with ``prefix`` sorts below prefix + MAX_CHAR
# (unless the key itself contains U+10FFFF right after the prefix, which no Kubernetes key does).
# Python str order and SQLite's BINARY collation on UTF-8 agree on code point order.
MAX_CHAR = "\U0010ffff"


def prefix_end(prefix: str) -> str:
    return prefix + MAX_CHAR


class BadURL(StoreError):
    """A store URL option could not be parsed."""


def url_options(url: str, allowed: dict[str, float]) -> dict[str, float]:
    """Numeric ``?name=value`` options of a store URL, defaulted from ``allowed``.

    Unknown names are an error rather than silently ignored: a typo in ``keep_revisions`` should
    not quietly give the default compaction window.
    """
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    out = dict(allowed)
    for name, values in query.items():
        if name not in allowed:
            raise BadURL(f"unknown option {name!r} in store URL {url!r}; known: {sorted(allowed)}")
        try:
            out[name] = float(values[-1])
        except ValueError as e:
            raise BadURL(f"option {name!r} in {url!r} is not a number: {values[-1]!r}") from e
    return out
