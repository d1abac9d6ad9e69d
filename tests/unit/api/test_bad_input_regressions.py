"""Regressions found by the property tests in tests/fuzz (issue 9, bad input).

Each test pins one input hypothesis found that the api/ modules answered wrongly; the fuzz
tests themselves explore around them.
"""

from __future__ import annotations

import pytest

from minikube8s.api import errors
from minikube8s.api.quantity import FORMAT_ERROR, canonical, parse_quantity
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


def test_exa_suffix_alone_is_a_decimal_si_unit() -> None:
    # "E" was taken for an exponent with no digits: int("") escaped as a bare ValueError.
    assert parse_quantity("2E") == 2 * 10**18
    assert parse_quantity("0E") == 0
    assert canonical("2E") == "2E"


@pytest.mark.parametrize("text", ["9" * 5000, "0." + "0" * 5000 + "1",
                                  "1e" + "0" * 5000 + "1", "1E-" + "0" * 5000])
def test_too_many_digits_is_the_format_error(text: str) -> None:
    # Python refuses int() of more than 4,300 digits; that must read as Kubernetes' error.
    with pytest.raises(ValueError) as e:
        parse_quantity(text)
    assert str(e.value) == FORMAT_ERROR


def test_long_quantity_texts_are_not_memoised() -> None:
    # A blank-padded quantity is valid; memoising 4,096 of 3 MiB each would pin 12 GiB.
    from minikube8s.api import quantity

    short = quantity._parse_short.cache_info().currsize
    canon = quantity._canonical_text.cache_info().currsize
    padded = " " * 10_000 + "7"
    assert parse_quantity(padded) == 7 and canonical(padded) == "7"
    assert quantity._parse_short.cache_info().currsize == short
    assert quantity._canonical_text.cache_info().currsize == canon
    parse_quantity("12345m")
    assert quantity._parse_short.cache_info().currsize in (short, short + 1)


@pytest.mark.parametrize("port", [[], {}, [80]])
def test_service_port_of_a_wrong_type_is_a_field_error(port: object) -> None:
    # The duplicate-port check hashed the raw value: TypeError (a 500) for a list or object.
    from minikube8s.api.defaults import apply_defaults
    from minikube8s.api.validation import validate

    obj = {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s", "namespace": "d"},
           "spec": {"ports": [{"port": port, "protocol": "TCP"}]}}
    apply_defaults(obj)
    with pytest.raises(errors.Invalid) as e:
        validate(obj, old=None)
    assert e.value.code == 422
    assert any(c.field == "spec.ports[0].port" for c in e.value.causes)


@pytest.mark.parametrize("mount", [{"name": ["data"], "mountPath": "/d"},
                                   {"name": "data", "mountPath": ["/d"]},
                                   {"name": {"a": 1}, "mountPath": {"b": 2}}])
def test_volume_mount_of_a_wrong_type_is_a_field_error(mount: dict[str, object]) -> None:
    # The volume-name and mount-path lookups hashed the raw values: TypeError (a 500).
    from minikube8s.api.defaults import apply_defaults
    from minikube8s.api.validation import validate

    obj = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "d"},
           "spec": {"volumes": [{"name": "data", "emptyDir": {}}],
                    "containers": [{"name": "c", "image": "i", "volumeMounts": [mount]}]}}
    apply_defaults(obj)
    with pytest.raises(errors.Invalid) as e:
        validate(obj, old=None)
    assert any(c.field.startswith("spec.containers[0].volumeMounts[0].")
               and c.message.endswith("must be a string") for c in e.value.causes)
