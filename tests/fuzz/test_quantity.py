"""Property tests for resource quantities (minikube8s/api/quantity.py).

Any string either parses or raises ``ValueError`` with Kubernetes' format text (validation.py
turns that into a 422 field error), quickly and in bounded memory even for huge exponents or
mantissas; generated valid quantities survive canonical/format round trips and order by value.
"""

from __future__ import annotations

import itertools
import math
import time
import tracemalloc
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from minikube8s.api.quantity import (
    FORMAT_ERROR,
    Format,
    canonical,
    format_quantity,
    parse_quantity,
    quantity_format,
)
from tests.fuzz.profiles import fuzz

FORMATS: tuple[Format, ...] = ("DecimalSI", "BinarySI", "DecimalExponent")
_SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_QUANTITY_CHARS = "0123456789+-.eEinumkKMGTP "


@st.composite
def quantities(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(st.text(alphabet="0123456789", min_size=1, max_size=12))
    frac = draw(st.one_of(st.just(""), st.text(alphabet="0123456789", max_size=9).map(
        lambda f: "." + f)))
    if draw(st.booleans()):
        suffix = draw(st.sampled_from(_SUFFIXES))
    else:
        suffix = draw(st.sampled_from("eE")) + draw(st.sampled_from(["", "+", "-"])) + str(
            draw(st.integers(min_value=0, max_value=30)))
    return sign + whole + frac + suffix


def _ceil_nano(v: Fraction) -> Fraction:
    """Kubernetes keeps nano precision, rounding magnitudes up."""
    sign = -1 if v < 0 else 1
    return sign * Fraction(math.ceil(abs(v) * 10**9), 10**9)


def _only_format_error(s: object) -> Fraction | None:
    try:
        return parse_quantity(s)  # type: ignore[arg-type]
    except ValueError as e:
        assert str(e) == FORMAT_ERROR, (s, str(e))
        return None


@given(st.one_of(st.text(max_size=40), st.text(alphabet=_QUANTITY_CHARS, max_size=30)))
@fuzz(500)
def test_arbitrary_text_parses_or_format_error(s: str) -> None:
    v = _only_format_error(s)
    if v is not None:
        assert parse_quantity(canonical(s)) == _ceil_nano(v) or quantity_format(s) == "BinarySI"


@given(st.one_of(st.integers(), st.floats(), st.none(), st.booleans(), st.binary(max_size=4),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2),
                                                                      st.integers(), max_size=1)))
@fuzz(200)
def test_non_strings_parse_or_format_error(v: object) -> None:
    _only_format_error(v)


@given(quantities())
@fuzz(300)
def test_valid_quantities_round_trip(s: str) -> None:
    v = parse_quantity(s)
    c = canonical(s)
    # Canonical text is a fixed point and keeps the value (to nano precision).
    assert canonical(c) == c
    assert parse_quantity(c) == _ceil_nano(v)
    for fmt in FORMATS:
        out = format_quantity(v, fmt)
        assert parse_quantity(out) == _ceil_nano(v), (s, fmt, out)
        assert format_quantity(parse_quantity(out), fmt) == out


@given(st.lists(quantities(), min_size=2, max_size=6))
@fuzz(150)
def test_order_by_value_is_consistent(qs: list[str]) -> None:
    by_value = sorted(qs, key=parse_quantity)
    # Canonical forms order the same way (rounding to nano keeps order, ties aside).
    values = [parse_quantity(canonical(q)) for q in by_value]
    assert values == sorted(values)
    for a, b in itertools.pairwise(by_value):
        assert parse_quantity(a) <= parse_quantity(b)
        # Rounding to nano precision is monotonic, so printing never reorders.
        assert parse_quantity(canonical(a)) <= parse_quantity(canonical(b))


@given(mantissa=st.sampled_from(["1", "9.99", "-1", "0.000001", "123456789"]),
       exp=st.one_of(st.integers(min_value=-10**12, max_value=10**12),
                     st.integers(min_value=-200, max_value=200)),
       letter=st.sampled_from("eE"))
@fuzz(200)
def test_huge_exponents_are_refused_quickly(mantissa: str, exp: int, letter: str) -> None:
    start = time.perf_counter()
    v = _only_format_error(f"{mantissa}{letter}{exp}")
    assert time.perf_counter() - start < 0.5
    if v is not None:
        assert abs(exp) <= 40
        canonical(f"{mantissa}{letter}{exp}")


@given(digits=st.integers(min_value=1, max_value=200_000),
       where=st.sampled_from(["int", "frac", "pad", "exp"]))
@fuzz(30)
def test_long_mantissas_and_padding_stay_bounded(digits: int, where: str) -> None:
    if where == "int":
        s = "9" * digits + "Mi"
    elif where == "frac":
        s = "0." + "0" * digits + "1"
    elif where == "exp":
        s = "1e-" + "0" * digits + "3"
    else:
        s = " " * digits + "1" + " " * digits
    tracemalloc.start()
    try:
        start = time.perf_counter()
        v = _only_format_error(s)
        if v is not None:
            canonical(s)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 64 * digits + 10 * 2**20


def test_quantity_caches_do_not_keep_huge_strings() -> None:
    """Padded quantities parse (kube trims blanks) but must not be memoised: 4,096 cached
    3 MiB bodies would be 12 GiB."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(200):
            s = " " * 100_000 + str(i) + " " * 10
            parse_quantity(s)
            canonical(s)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 4 * 2**20
