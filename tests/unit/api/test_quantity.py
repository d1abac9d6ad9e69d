"""quantity.py: Kubernetes resource.Quantity parsing and printing."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube8s.api.quantity import (
    FORMAT_ERROR,
    canonical,
    cpu_millis,
    format_quantity,
    memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize(("text", "value"), [
    ("250m", Fraction(1, 4)), ("1", Fraction(1)), ("0.5", Fraction(1, 2)),
    ("64Mi", 64 * 2**20), ("1Gi", 2**30), ("1e3", 1000), ("1E-3", Fraction(1, 1000)),
    ("1k", 1000), ("1M", 10**6), (".5", Fraction(1, 2)), ("+2", 2), ("-1.5", Fraction(-3, 2)),
    ("100n", Fraction(1, 10**7)), ("3u", Fraction(3, 10**6)), ("2Ki", 2048),
    ("1.5Gi", 3 * 2**29), (2, 2), (0.25, Fraction(1, 4)),
])
def test_parse(text: str | int | float, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("junk", ["", "abc", "1K", "1 Gi", "1.2.3", "Mi", "--1", "1mi", "e3",
                                  "1e", "1e1000", True, None, float("nan")])
def test_parse_junk(junk: object) -> None:
    with pytest.raises(ValueError, match="quantities must match"):
        parse_quantity(junk)  # type: ignore[arg-type]
    assert FORMAT_ERROR.startswith("quantities must match")


@pytest.mark.parametrize(("text", "out"), [
    ("0.5", "500m"), ("1000m", "1"), ("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"), ("1000", "1k"),
    ("1e3", "1e3"), ("0", "0"), ("100Mi", "100Mi"), ("1500m", "1500m"), ("-2k", "-2k"),
])
def test_canonical(text: str, out: str) -> None:
    assert canonical(text) == out


def test_format_binary_fallback_to_decimal() -> None:
    assert format_quantity(Fraction(1, 2), "BinarySI") == "500m"
    assert format_quantity(1000, "BinarySI") == "1k"
    assert format_quantity(Fraction(1, 10**12)) == "1n"


def test_cpu_and_memory() -> None:
    assert cpu_millis("250m") == 250
    assert cpu_millis("2") == 2000
    assert cpu_millis("0.0001") == 1
    assert memory_bytes("64Mi") == 67108864
    assert memory_bytes("1G") == 10**9


@given(st.text(max_size=20))
def test_parse_never_crashes(s: str) -> None:
    try:
        v = parse_quantity(s)
    except ValueError:
        return
    assert parse_quantity(format_quantity(v)) >= v  # round trip (rounds up below 1n)


@given(st.integers(min_value=-(2**62), max_value=2**62), st.sampled_from(["DecimalSI",
                                                                           "BinarySI"]))
def test_format_roundtrip_integers(n: int, fmt: str) -> None:
    assert parse_quantity(format_quantity(n, fmt)) == n  # type: ignore[arg-type]
