"""Regressions found by the property tests in tests/fuzz (issue 9, bad input).

Each test pins one input hypothesis found that the api/ modules answered wrongly; the fuzz
tests themselves explore around them.
"""

from __future__ import annotations

import pytest

from minikube8s.api import errors
from minikube8s.api.selectors import parse_label_selector


@pytest.mark.parametrize("value", ["\u0663", "1_000", "\uff11", "9223372036854775808",
                                   "-9223372036854775809", "++1"])
def test_gt_lt_values_are_go_integers(value: str) -> None:
    # Python's int() takes these; Kubernetes' strconv.ParseInt(v, 10, 64) does not.
    with pytest.raises(errors.BadRequest, match="the value must be an integer"):
        parse_label_selector(f"a>{value}")


def test_gt_lt_match_reads_labels_as_go_integers() -> None:
    sel = parse_label_selector("a>1")
    assert sel.matches({"a": "2"})
    assert sel.matches({"a": "+2"})
    assert not sel.matches({"a": "\u0663"})
    assert not sel.matches({"a": "1_000"})
    assert not sel.matches({"a": "9" * 30})
    assert parse_label_selector("a<-9223372036854775808").requirements[0].values == (
        "-9223372036854775808",)


def test_only_ascii_blanks_separate_tokens() -> None:
    # Go's lexer splits on space, tab, CR and LF only: an em space is part of the key.
    assert str(parse_label_selector("a\t=\r\nb")) == "a=b"
    with pytest.raises(errors.BadRequest, match="name part must consist of"):
        parse_label_selector("a\u2003=b")
