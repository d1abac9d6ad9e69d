"""names.py: Kubernetes' name and label syntax checks and message texts."""

from __future__ import annotations

import pytest

from minikube8s.api import names


def test_regex_error_double_space_quirk() -> None:
    assert names.regex_error("m", "f", "a", "b") == "m (e.g. 'a',  or 'b', regex used for " \
                                                    "validation is 'f')"
    assert names.regex_error("m", "f") == "m (regex used for validation is 'f')"


@pytest.mark.parametrize(("fn", "good", "bad"), [
    (names.is_dns1123_label, ["a", "a-1", "1a", "a" * 63], ["A", "a.b", "-a", "a-", "a" * 64, ""]),
    (names.is_dns1123_subdomain, ["a.b", "a-b.c1", "1.2"], ["A", "a..b", ".a", "a_b", ""]),
    (names.is_dns1035_label, ["a", "a-1"], ["1a", "a.b", "A", ""]),
    (names.is_qualified_name, ["a", "A_b.c", "example.com/x", "a/B"],
     ["", "/a", "a/", "a/b/c", "-a", "Ex.com/a", "a" * 64]),
    (names.is_valid_label_value, ["", "a", "A-b_c.d", "1"], ["-a", "a b", "a" * 64]),
    (names.is_valid_port_name, ["http", "h-2", "a1"], ["", "123", "a--b", "-a", "HTTP",
                                                      "a" * 16]),
    (names.is_env_var_name, ["A", "a.b-c", "_x"], ["1A", "a b", ""]),
    (names.is_c_identifier, ["a_1", "_x"], ["1a", "a-b"]),
])
def test_checkers(fn: object, good: list[str], bad: list[str]) -> None:
    for v in good:
        assert fn(v) == [], v  # type: ignore[operator]
    for v in bad:
        assert fn(v), v  # type: ignore[operator]


def test_messages() -> None:
    assert names.is_dns1123_label("a" * 64)[0] == "must be no more than 63 characters"
    assert names.is_qualified_name("a/")[0] == "name part must be non-empty"
    assert names.is_qualified_name("/a")[0] == "prefix part must be non-empty"
    assert names.is_valid_port_num(0) == ["must be between 1 and 65535, inclusive"]
    assert names.is_valid_port_num(True) == ["must be between 1 and 65535, inclusive"]
    assert names.is_valid_port_num(65535) == []
