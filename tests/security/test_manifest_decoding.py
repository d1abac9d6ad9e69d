"""The CLI's manifest reader on hostile files: the same budgets as the server's bodies
(api/decoding.py), so a downloaded manifest cannot take the user's shell down."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from minikube8s.cli import manifests
from minikube8s.cli.errors import CLIError


def laughs(levels: int) -> str:
    out = "apiVersion: v1\nkind: Pod\nmetadata: {name: lol}\n"
    out += 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels):
        out += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n"
    return out


@pytest.mark.parametrize(("text", "message"), [
    (laughs(12), "yaml: document contains excessive aliasing"),
    ("\n".join("  " * i + f"k{i}:" for i in range(300)) + " v", "exceeded max depth of 100"),
    ("[" * 10_000 + "]" * 10_000, "json: exceeded max depth of 100"),
    ('{"apiVersion": "v1", "kind": "Pod", "n": NaN}', "invalid character 'N'"),
    ("apiVersion: v1\nkind: Pod\nn: .inf\n", "NaN or Infinity"),
])
def test_refused_quickly_in_bounded_memory(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(CLIError) as e:
            manifests.load([str(f)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert peak < 32 * 2**20, peak
    assert str(e.value).startswith(f"error parsing {f}: ")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_small_aliases_and_timestamps_are_fine() -> None:
    (m,) = manifests.load(["-"], stdin=(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: &l {app: web}\n"
        "  annotations:\n    when: 2015-05-01\nspec:\n  nodeSelector: *l\n"
        "  containers: [{name: c, image: nginx}]\n"))
    assert m.obj["metadata"]["annotations"] == {"when": "2015-05-01"}
    assert m.obj["spec"]["nodeSelector"] == {"app": "web"}
    # aliases are copies, not shared: defaulting one place must not change the other
    assert m.obj["spec"]["nodeSelector"] is not m.obj["metadata"]["labels"]
    assert m.node is not None
