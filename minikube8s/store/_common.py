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


def url_options(url: str, known: set[str]) -> dict[str, str]:
    """The ``?name=value`` options of a store URL.

    Unknown names are an error rather than silently ignored: a typo in ``keep_revisions`` should
    not quietly give the default compaction window.
    """
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    unknown = set(query) - known
    if unknown:
        raise BadURL(
            f"unknown option(s) {sorted(unknown)} in store URL {url!r}; known: {sorted(known)}"
        )
    return {name: values[-1] for name, values in query.items()}


def number(url: str, opts: dict[str, str], name: str, default: float) -> float:
    raw = opts.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as e:
        raise BadURL(f"option {name!r} in store URL {url!r} is not a number: {raw!r}") from e
    if value < 0:
        raise BadURL(f"option {name!r} in store URL {url!r} must not be negative: {raw!r}")
    return value
