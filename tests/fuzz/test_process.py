"""The write fuzzing against a real ``minikube8s --role a`` process on its SQLite store.

Fewer examples than test_writes.py (the in-process memory store), but the whole node as
users run it: the scheduler and controllers see whatever the mutated writes got accepted,
and the process's log must hold no traceback afterwards, its resident set a sane size.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube8s.api.resources import ALL
from tests.fixtures.apiserver import ApiServerProcess
from tests.fuzz import objects
from tests.fuzz.harness import JSON_PATCH, MERGE, STRATEGIC, YAML, Server, check_answer
from tests.fuzz.profiles import fuzz
from tests.fuzz.test_decoding import bodies

NS = "fuzzp"
RSS_LIMIT = 400 * 2**20
WRITABLE = [r for r in ALL if "create" in r.verbs and r.name != "bindings"]


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with ApiServerProcess(tmp_path_factory.mktemp("fuzzproc") / "data").serving() as server:
        yield server


@pytest.fixture(scope="module")
def http(proc: ApiServerProcess) -> Any:
    s = Server(proc.port)
    ans = s.json("POST", "/api/v1/namespaces",
                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    assert ans.status == 201, ans.body
    yield s
    s.close()


def _path(res: Any, name: str = "") -> str:
    base = f"/apis/{res.group}/{res.version}" if res.group else "/api/v1"
    out = f"{base}/namespaces/{NS}/{res.name}" if res.namespaced else f"{base}/{res.name}"
    return f"{out}/{name}" if name else out


def _rss(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    assert m is not None
    return int(m.group(1)) * 1024


@given(data=st.data())
@fuzz(80)
def test_mutated_writes_on_sqlite(proc: ApiServerProcess, http: Server,
                                  data: st.DataObject) -> None:
    res = data.draw(st.sampled_from(WRITABLE), label="resource")
    base = objects.VALID[res.name]
    name = base["metadata"]["name"]
    check_answer(http.json("POST", _path(res), base))  # 201 once, then 409
    obj = data.draw(objects.mutated(base), label="object")
    method = data.draw(st.sampled_from(["POST", "PUT", "PATCH", "RAW"]), label="method")
    if method == "POST":
        check_answer(http.json("POST", _path(res), obj))
    elif method == "PUT":
        check_answer(http.json("PUT", _path(res, name), obj))
    elif method == "PATCH":
        ctype = data.draw(st.sampled_from([MERGE, STRATEGIC, JSON_PATCH]), label="patch")
        patch = obj if ctype != JSON_PATCH else data.draw(objects.json_patches(base))
        check_answer(http.request("PATCH", _path(res, name), json.dumps(patch).encode(),
                                  ctype))
    else:
        body = data.draw(bodies, label="body")
        check_answer(http.request("POST", _path(res), body, data.draw(
            st.sampled_from([YAML, MERGE, "", "application/json"]), label="ctype")))
    assert proc.proc is not None
    assert _rss(proc.proc.pid) < RSS_LIMIT


def test_no_traceback_in_the_log(proc: ApiServerProcess, http: Server) -> None:
    """Runs after the fuzzing: nothing the writes let in crashed a controller or handler."""
    check_answer(http.request("GET", "/api/v1/namespaces"))
    logs = proc.logs()
    assert "Traceback" not in logs, logs[logs.find("Traceback") - 2000:][:6000]
