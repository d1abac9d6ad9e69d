"""Resource quantities (``250m`` CPU, ``64Mi`` memory) as exact fractions.

Kubernetes' resource.Quantity grammar (apimachinery/pkg/api/resource/quantity.go):
``<sign><digits>[.<digits>]<suffix>`` where the suffix is a binary SI unit (Ki..Ei), a decimal
SI unit (n u m "" k M G T P E) or a decimal exponent (``e3``, ``E-2``). Used by validation.py
(requests <= limits), the LimitRanger/ResourceQuota admission plugins and the scheduler's
fit checks. Values are ``fractions.Fraction`` so ``0.1 + 0.2`` CPUs compare exactly.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction
from typing import Literal

Format = Literal["DecimalSI", "BinarySI", "DecimalExponent"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY_RE = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>(?:[eE][+-]?[0-9]+)|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$"
)
# The text Kubernetes reports for a malformed quantity (resource.ErrFormatWrong).
FORMAT_ERROR = ("quantities must match the regular expression "
                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
# Kubernetes caps quantities at 2^63-1 in their int64 form; far larger numbers are junk input
# and would also make Fraction arithmetic slow.
_MAX_EXPONENT = 40


def parse_quantity(s: str | int | float | Fraction) -> Fraction:
    """Parse a quantity; ``ValueError(FORMAT_ERROR)`` when it is not one."""
    if isinstance(s, bool):
        raise ValueError(FORMAT_ERROR)
    if isinstance(s, Fraction):
        return s
    if isinstance(s, int):
        return Fraction(s)
    if isinstance(s, float):
        if not math.isfinite(s):
            raise ValueError(FORMAT_ERROR)
        return Fraction(repr(s))
    if not isinstance(s, str):
        raise ValueError(FORMAT_ERROR)
    return _parse_text(s)


# Pods repeat the same few quantities on every write (defaulting, validation, admission):
# parsing is pure, so the text -> Fraction map is memoised (errors are not cached). Only short
# texts: a quantity padded with blanks to megabytes is valid, and 4,096 of them would pin GiBs.
_CACHED_LEN = 64


def _parse_text(s: str) -> Fraction:
    return _parse_short(s) if len(s) <= _CACHED_LEN else _parse_uncached(s)


def _parse_uncached(s: str) -> Fraction:
    m = _QUANTITY_RE.match(s.strip())
    if not m:
        raise ValueError(FORMAT_ERROR)
    try:
        num = Fraction(m.group("num"))
    except ValueError:
        # More digits than Python converts (sys.get_int_max_str_digits): junk, as for kube.
        raise ValueError(FORMAT_ERROR) from None
    suffix = m.group("suffix")
    if suffix in _BINARY:
        return num * _BINARY[suffix]
    # "E" alone is exa (decimal SI); "E3", "e-2" are exponents.
    if len(suffix) > 1 and suffix[:1] in ("e", "E"):
        try:
            exp = int(suffix[1:])
        except ValueError:  # thousands of zero-padded digits
            raise ValueError(FORMAT_ERROR) from None
        if abs(exp) > _MAX_EXPONENT:
            raise ValueError(FORMAT_ERROR)
        return num * Fraction(10) ** exp
    return num * Fraction(10) ** _DECIMAL[suffix]


_parse_short = functools.lru_cache(maxsize=4096)(_parse_uncached)


def is_quantity(s: object) -> bool:
    try:
        parse_quantity(s)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def quantity_format(s: str | int | float) -> Format:
    """Which format a textual quantity was written in, so it can be re-printed alike."""
    if isinstance(s, str):
        st = s.strip()
        if st[-2:] in _BINARY:
            return "BinarySI"
        if re.search(r"[eE][+-]?[0-9]+$", st):
            return "DecimalExponent"
    return "DecimalSI"


def format_quantity(q: Fraction | int | str | float, fmt: Format = "DecimalSI") -> str:
    """Canonical text: the largest suffix that keeps an integer mantissa.

    ``Fraction(1, 2)`` -> ``500m``; ``1536 * 2**20`` in BinarySI -> ``1536Mi``; values below
    1n round up to ``1n`` as Kubernetes rounds to nano precision.
    """
    value = parse_quantity(q) if not isinstance(q, Fraction) else q
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value == 0:
        return "0"
    if fmt == "BinarySI" and value.denominator == 1 and value >= 1024:
        n = value.numerator
        best = ""
        for suffix, mult in _BINARY.items():
            if n % mult == 0:
                best = suffix
        if best:
            return f"{sign}{n // _BINARY[best]}{best}"
        # Not a whole number of KiB: Kubernetes prints such values in decimal.
    nanos = math.ceil(value * 10**9)
    exp = -9
    while nanos % 1000 == 0 and exp < 18:
        nanos //= 1000
        exp += 3
    if fmt == "DecimalExponent":
        return f"{sign}{nanos}" + (f"e{exp}" if exp else "")
    suffix = {v: k for k, v in _DECIMAL.items()}[exp]
    return f"{sign}{nanos}{suffix}"


def canonical(s: str | int | float) -> str:
    """Re-print a quantity in its own format: ``"0.5"`` -> ``"500m"``, ``"1024Mi"`` -> ``"1Gi"``."""
    if isinstance(s, str) and len(s) <= _CACHED_LEN:
        return _canonical_text(s)
    return format_quantity(parse_quantity(s), quantity_format(s))


@functools.lru_cache(maxsize=4096)
def _canonical_text(s: str) -> str:
    return format_quantity(parse_quantity(s), quantity_format(s))


def cpu_millis(q: str | int | float | Fraction) -> int:
    """CPU in millicores, rounded up as the kubelet does (``"0.0001"`` -> 1)."""
    return math.ceil(parse_quantity(q) * 1000)


def memory_bytes(q: str | int | float | Fraction) -> int:
    return math.ceil(parse_quantity(q))
