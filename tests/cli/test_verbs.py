"""Each verb of the bundled CLI against a real API server (no pods run yet: no kubelet)."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compat.kubectl import Kubectl
from tests.fixtures.apiserver import ApiServerProcess

from .conftest import EXAMPLES, REPO, Minikube8s

POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {app}}}
spec:
  containers:
  - name: c
    image: {image}
"""


def obj(mk: Minikube8s, *args: str) -> Any:
    return json.loads(mk("get", *args, "-o", "json").out)


def test_create_directory_stdin_json_and_lists(mk: Minikube8s, ns: str) -> None:
    out = mk("create", "-n", ns, "-f", str(EXAMPLES / "v1")).out
    assert out.splitlines() == ["replicationcontroller/nginx-controller created",
                                "service/nginx created", "pod/busybox created"]
    docs = POD.format(name="a", app="x", image="nginx") + "---\n" + POD.format(
        name="b", app="x", image="nginx")
    assert mk("create", "-n", ns, "-f", "-", input=docs).out.splitlines() == [
        "pod/a created", "pod/b created"]
    as_json = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        yaml.safe_load(POD.format(name=n, app="y", image="nginx")) for n in ("c", "d")]})
    assert mk("create", "-n", ns, "-f", "-", input=as_json).out.splitlines() == [
        "pod/c created", "pod/d created"]
    names = mk("get", "pods", "-n", ns, "-o", "name").out.split()
    # (plus the RC's pods when a controller manager runs)
    assert {"pod/a", "pod/b", "pod/busybox", "pod/c", "pod/d"} <= set(names)


def test_create_seed_v1beta3_prints_warnings(mk: Minikube8s, ns: str) -> None:
    res = mk("create", "-n", ns, "-f", str(EXAMPLES / "seed" / "nginx_rc.yaml"))
    assert res.out == "replicationcontroller/nginx-controller created\n"
    warnings = [x for x in res.err.splitlines() if x.startswith("Warning: ")]
    assert any("portals" in w for w in warnings) and any("enabled" in w for w in warnings)
    rc = obj(mk, "rc", "nginx-controller", "-n", ns)
    probe = rc["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    assert probe["timeoutSeconds"] == 5 and probe["httpGet"]["port"] == 80


def _apply_sequence(run: Any, ns: str, tmp: Path) -> dict[str, Any]:
    """apply, change the file (drop a label, a port and an env var; add one), apply again."""
    f = tmp / "rc.yaml"
    rc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {"replicas": 2, "selector": {"app": "web"}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [
                {"name": "web", "image": "nginx:1.0",
                 "ports": [{"containerPort": 80}, {"containerPort": 443}],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "side", "image": "busybox"}]}}}}
    f.write_text(yaml.safe_dump(rc))
    assert run("apply", "-n", ns, "-f", str(f)) == "replicationcontroller/web created"
    assert run("apply", "-n", ns, "-f", str(f)) == "replicationcontroller/web unchanged"
    del rc["metadata"]["labels"]["tier"]
    c = rc["spec"]["template"]["spec"]["containers"]
    c[0]["image"] = "nginx:2.0"
    c[0]["ports"] = [{"containerPort": 80}]
    c[0]["env"] = [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
    del c[1]
    f.write_text(yaml.safe_dump(rc))
    assert run("apply", "-n", ns, "-f", str(f)) == "replicationcontroller/web configured"
    assert run("apply", "-n", ns, "-f", str(f)) == "replicationcontroller/web unchanged"
    return rc


def test_apply_three_way_like_kubectl(mk: Minikube8s, kubectl: Kubectl, tmp_path: Path
                                      ) -> None:
    mk("create", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ap1\n"
       "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ap2\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _apply_sequence(lambda *a: mk(*a).out.strip(), "ap1", tmp_path / "a")
    _apply_sequence(lambda *a: kubectl(*a).out.strip(), "ap2", tmp_path / "b")
    ours = obj(mk, "rc", "web", "-n", "ap1")
    theirs = obj(mk, "rc", "web", "-n", "ap2")
    for o in (ours, theirs):
        for k in ("uid", "resourceVersion", "creationTimestamp", "namespace", "generation",
                  "managedFields"):
            o["metadata"].pop(k, None)
        # the last-applied annotation names the namespace too; otherwise it must be the same
        applied = json.loads(o["metadata"]["annotations"].pop(
            "kubectl.kubernetes.io/last-applied-configuration"))
        assert applied["metadata"].pop("namespace") in ("ap1", "ap2")
        o["applied"] = applied
    assert ours == theirs
    containers = ours["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]
    assert containers[0]["image"] == "nginx:2.0"
    assert [p["containerPort"] for p in containers[0]["ports"]] == [80]
    assert containers[0]["env"] == [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
    assert ours["metadata"]["labels"] == {"app": "web"}


def test_apply_keeps_other_writers_changes(mk: Minikube8s, ns: str, tmp_path: Path) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(POD.format(name="p", app="a", image="nginx"))
    mk("apply", "-n", ns, "-f", str(f))
    mk("label", "pod", "p", "owner=ops", "-n", ns)
    f.write_text(POD.format(name="p", app="b", image="nginx"))
    assert mk("apply", "-n", ns, "-f", str(f)).out == "pod/p configured\n"
    assert obj(mk, "pod", "p", "-n", ns)["metadata"]["labels"] == {"app": "b", "owner": "ops"}


def test_apply_on_created_object_and_server_side(mk: Minikube8s, ns: str,
                                                 tmp_path: Path) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(POD.format(name="q", app="a", image="nginx"))
    mk("create", "-n", ns, "-f", str(f))
    f.write_text(POD.format(name="q", app="z", image="nginx"))
    assert mk("apply", "-n", ns, "-f", str(f)).out == "pod/q configured\n"
    live = obj(mk, "pod", "q", "-n", ns)
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]
    g = tmp_path / "ss.yaml"
    g.write_text(POD.format(name="ss", app="a", image="nginx"))
    assert mk("apply", "--server-side", "-n", ns, "-f", str(g)).out == \
        "pod/ss serverside-applied\n"
    assert obj(mk, "pod", "ss", "-n", ns)["metadata"]["labels"] == {"app": "a"}


def test_replace(mk: Minikube8s, ns: str, tmp_path: Path) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(POD.format(name="r", app="a", image="nginx"))
    mk("create", "-n", ns, "-f", str(f))
    f.write_text(POD.format(name="r", app="b", image="nginx"))
    assert mk("replace", "-n", ns, "-f", str(f)).out == "pod/r replaced\n"
    assert obj(mk, "pod", "r", "-n", ns)["metadata"]["labels"] == {"app": "b"}
    uid = obj(mk, "pod", "r", "-n", ns)["metadata"]["uid"]
    f.write_text(POD.format(name="r", app="b", image="busybox"))
    assert mk("replace", "--force", "-n", ns, "-f", str(f)).out == "pod/r replaced\n"
    new = obj(mk, "pod", "r", "-n", ns)
    assert new["metadata"]["uid"] != uid and new["spec"]["containers"][0]["image"] == "busybox"


def test_delete_forms(mk: Minikube8s, ns: str, tmp_path: Path) -> None:
    docs = "---\n".join(POD.format(name=n, app=a, image="nginx")
                        for n, a in (("d1", "x"), ("d2", "x"), ("d3", "y"), ("d4", "z"),
                                     ("d5", "z")))
    f = tmp_path / "pods.yaml"
    f.write_text(docs)
    mk("create", "-n", ns, "-f", str(f))
    assert mk("delete", "pods", "d1", "d2", "-n", ns).out == \
        'pod "d1" deleted\npod "d2" deleted\n'
    assert mk("delete", "pod/d3", "-n", ns).out == 'pod "d3" deleted\n'
    assert mk("delete", "pods", "-l", "app=z", "-n", ns).out == \
        'pod "d4" deleted\npod "d5" deleted\n'
    mk("create", "-n", ns, "-f", str(f))
    res = mk("delete", "-n", ns, "-f", str(f))
    assert res.out.count("deleted") == 5
    mk("create", "-n", ns, "-f", str(f))
    assert mk("delete", "pods", "--all", "-n", ns).out.count("deleted") == 5
    assert mk("get", "pods", "-n", ns).err == f"No resources found in {ns} namespace.\n"


def test_scale_resize_and_stop(mk: Minikube8s, ns: str) -> None:
    assert mk("run-container", "nginx", "--image=nginx", "--port=80", "--replicas=6",
              "-n", ns).out == "replicationcontroller/nginx created\n"
    assert mk("scale", "rc", "nginx", "--replicas=3", "-n", ns).out == \
        "replicationcontroller/nginx scaled\n"
    assert obj(mk, "rc", "nginx", "-n", ns)["spec"]["replicas"] == 3
    assert mk("resize", "--replicas=2", "rc/nginx", "-n", ns).out == \
        "replicationcontroller/nginx resized\n"
    assert obj(mk, "rc", "nginx", "-n", ns)["spec"]["replicas"] == 2
    res = mk.fail("scale", "rc", "nginx", "--replicas=5", "--current-replicas=3", "-n", ns)
    assert res.err == "error: Expected replicas to be 3, was 2\n"
    start = time.monotonic()
    # No controller manager yet: nothing reports replicas, so stop must not hang.
    assert mk("stop", "rc", "nginx", "-n", ns).out == "replicationcontroller/nginx stopped\n"
    assert time.monotonic() - start < 20
    mk.fail("get", "rc", "nginx", "-n", ns)


def test_label_and_annotate(mk: Minikube8s, ns: str) -> None:
    mk("run", "lab", "--image=nginx", "-n", ns)
    assert mk("label", "pod", "lab", "tier=web", "-n", ns).out == "pod/lab labeled\n"
    res = mk.fail("label", "pod", "lab", "tier=db", "-n", ns)
    assert res.err == "error: 'tier' already has a value (web), and --overwrite is false\n"
    mk("label", "pod", "lab", "tier=db", "--overwrite", "-n", ns)
    assert obj(mk, "pod", "lab", "-n", ns)["metadata"]["labels"] == {"run": "lab", "tier": "db"}
    mk("label", "pods", "-l", "run=lab", "tier-", "-n", ns)
    assert obj(mk, "pod", "lab", "-n", ns)["metadata"]["labels"] == {"run": "lab"}
    assert mk("annotate", "pod/lab", "note=hello world", "-n", ns).out == "pod/lab annotated\n"
    assert obj(mk, "pod", "lab", "-n", ns)["metadata"]["annotations"] == {
        "note": "hello world"}
    mk("annotate", "pod", "lab", "note-", "-n", ns)
    assert not obj(mk, "pod", "lab", "-n", ns)["metadata"].get("annotations")


def test_run_and_dry_run(mk: Minikube8s, ns: str) -> None:
    out = mk("run", "bb", "--image=busybox", "--restart=Never", "--env=A=1", "--dry-run",
             "-o", "yaml", "-n", ns, "--", "sleep", "3600").out
    pod = yaml.safe_load(out)
    assert pod["spec"]["containers"][0]["command"] == ["sleep", "3600"]
    assert pod["spec"]["restartPolicy"] == "Never"
    mk.fail("get", "pod", "bb", "-n", ns)
    assert mk("run", "bb", "--image=busybox", "--port=8080", "-n", ns).out == \
        "pod/bb created\n"
    live = obj(mk, "pod", "bb", "-n", ns)
    assert live["metadata"]["labels"] == {"run": "bb"}
    assert live["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080


def test_expose_protocol_and_public_ip(mk: Minikube8s, ns: str) -> None:
    mk("run-container", "dns", "--image=dns", "--port=53", "--replicas=1", "-n", ns)
    assert mk("expose", "rc", "dns", "--port=53", "--protocol=UDP", "--public-ip=12.0.0.9",
              "-n", ns).out == "service/dns exposed\n"
    svc = obj(mk, "svc", "dns", "-n", ns)
    assert svc["spec"]["ports"][0]["protocol"] == "UDP"
    assert svc["spec"]["ports"][0]["targetPort"] == 53
    assert svc["spec"]["externalIPs"] == ["12.0.0.9"]
    assert svc["spec"]["selector"] == {"run-container": "dns"}
    # No --port: the RC's container ports are used.
    mk("expose", "rc", "dns", "--service-name=dns2", "-n", ns)
    assert obj(mk, "svc", "dns2", "-n", ns)["spec"]["ports"][0]["port"] == 53


def test_describe_with_events(mk: Minikube8s, ns: str) -> None:
    mk("run", "ev", "--image=nginx", "--port=80", "-n", ns)
    uid = obj(mk, "pod", "ev", "-n", ns)["metadata"]["uid"]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": "ev.1", "namespace": ns},
             "involvedObject": {"kind": "Pod", "name": "ev", "namespace": ns, "uid": uid},
             "reason": "Scheduled", "message": "Successfully assigned ev to 192.168.0.11",
             "type": "Normal", "source": {"component": "default-scheduler"}, "count": 1,
             "firstTimestamp": now, "lastTimestamp": now}
    mk("create", "-n", ns, "-f", "-", input=json.dumps(event))
    out = mk("describe", "pod", "ev", "-n", ns).out
    lines = out.splitlines()
    assert lines[0].split() == ["Name:", "ev"] and lines[1].split() == ["Namespace:", ns]
    assert ["Image:", "nginx"] in [x.split() for x in lines]
    assert ["Port:", "80/TCP"] in [x.split() for x in lines]
    lines = out.splitlines()
    events = lines.index("Events:")
    assert lines[events + 1].split() == ["Type", "Reason", "Age", "From", "Message"]
    # (the scheduler may add FailedScheduling events of its own: there are no nodes)
    (ours,) = [x for x in lines[events + 3:] if x.split()[:2] == ["Normal", "Scheduled"]]
    assert ours.endswith("default-scheduler  Successfully assigned ev to 192.168.0.11")
    mk("create", "-n", ns, "-f", str(EXAMPLES / "v1" / "nginx-service.yaml"))
    svc = mk("describe", "svc", "nginx", "-n", ns).out
    svc_cells = [x.split() for x in svc.splitlines()]
    assert ["External", "IPs:", "12.0.0.5"] in svc_cells
    assert ["Selector:", "name=nginx"] in svc_cells
    assert ["Port:", "http", "80/TCP"] in svc_cells
    assert svc_cells[-1] == ["Events:", "<none>"]
    mk("create", "-n", ns, "-f", str(EXAMPLES / "v1" / "nginx-rc.yaml"))
    rc = mk("describe", "rc", "nginx-controller", "-n", ns).out
    # (0 current without a controller manager, up to 6 with one)
    assert re.search(r"^Replicas:     [0-6] current / 6 desired$", rc, re.M), rc
    assert "Liveness:" in rc and "http-get http://:80/" in rc


def _set_ready(url: str, ns: str, pod: str) -> None:
    body = json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    req = urllib.request.Request(f"{url}/api/v1/namespaces/{ns}/pods/{pod}/status",
                                 method="PATCH", data=body.encode(),
                                 headers={"Content-Type": "application/merge-patch+json"})
    urllib.request.urlopen(req, timeout=10).close()


def test_wait(mk: Minikube8s, ns: str, apiserver: ApiServerProcess) -> None:
    mk("run", "w", "--image=nginx", "-n", ns)
    res = mk.fail("wait", "--for=condition=Ready", "pod/w", "--timeout=1s", "-n", ns)
    assert res.err == "error: timed out waiting for the condition on pods/w\n"
    _set_ready(apiserver.url, ns, "w")
    assert mk("wait", "--for=condition=Ready", "pod/w", "-n", ns).out == \
        "pod/w condition met\n"
    mk("delete", "pod", "w", "-n", ns)
    assert mk("wait", "--for=delete", "pod/w", "-n", ns).out == "pod/w condition met\n"


def test_get_watch(mk: Minikube8s, ns: str) -> None:
    mk("run", "first", "--image=nginx", "-n", ns)
    proc = subprocess.Popen([sys.executable, "-m", "minikube8s", "get", "pods", "-w", "-n", ns,
                             "-s", mk.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=mk.env(), cwd=str(REPO))
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def next_row(name: str) -> list[str]:
        # Other writers (the scheduler's PodScheduled condition...) may add MODIFIED rows.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                cells = lines.get(timeout=0.5).split()
            except queue.Empty:
                continue
            if cells and cells[0] == name:
                return cells
        raise AssertionError(f"no row for {name}")

    try:
        assert lines.get(timeout=20).split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert next_row("first")[1:3] == ["0/1", "Pending"]
        mk("run", "second", "--image=nginx", "-n", ns)
        assert next_row("second")[1:3] == ["0/1", "Pending"]
        mk("delete", "pod", "first", "-n", ns)
        next_row("first")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_info_verbs(mk: Minikube8s, kubectl: Kubectl) -> None:
    assert mk("cluster-info").out.startswith(
        f"Kubernetes control plane is running at {mk.url}\n")
    out = mk("version").out.splitlines()
    assert out[0].startswith("Client Version: v") and out[1].startswith("Server Version: v1.")
    doc = json.loads(mk("version", "-o", "json").out)
    assert doc["serverVersion"]["major"] == "1"
    assert mk("version", "--client").out.count("\n") == 1
    ours = mk("api-resources").out
    assert ours == kubectl("api-resources").out
    assert mk("api-resources", "--namespaced=false", "-o", "name").out == kubectl(
        "api-resources", "--namespaced=false", "-o", "name").out


def test_node_writes_admin_kubeconfig(mk: Minikube8s, kubectl: Kubectl,
                                      apiserver: ApiServerProcess) -> None:
    path = apiserver.data_dir / "kubeconfig"
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert f"admin kubeconfig written to {path}" in apiserver.logs()
    # No -s, no $MINIKUBE8S_SERVER: the kubeconfig names the server.
    res = mk("get", "svc", "kubernetes", "-o", "name", server=False,
             env={"KUBECONFIG": str(path)})
    assert res.out == "service/kubernetes\n"
    view = yaml.safe_load(mk("config", "view", server=False, env={"KUBECONFIG": str(path)}).out)
    # The HTTPS port with the CA inline and the admin token (issue 9).
    assert view["clusters"][0]["cluster"]["server"] == apiserver.secure_url
    assert view["current-context"] == "minikube8s"
    res = subprocess.run([str(kubectl.argv()[0]), "get", "svc", "kubernetes", "-o", "name",
                          "--cache-dir", str(kubectl.home / "cache2")],
                         capture_output=True, text=True, check=False, timeout=60,
                         env={**kubectl.env(), "KUBECONFIG": str(path)})
    assert res.stdout == "service/kubernetes\n", res.stderr


def test_server_precedence(mk: Minikube8s, apiserver: ApiServerProcess, tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9"
    cfg = tmp_path / "config"
    cfg.write_text(f"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                   f"    server: {dead}\ncontexts:\n- name: c\n  context:\n    cluster: c\n"
                   f"    user: u\nusers:\n- name: u\n  user: {{}}\ncurrent-context: c\n")
    # --server beats the environment, which beats the kubeconfig.
    assert mk("get", "svc", "kubernetes", "-o", "name", server=False,
              env={"MINIKUBE8S_SERVER": apiserver.url, "KUBECONFIG": str(cfg)}).code == 0
    res = mk("get", "svc", server=False, check=False, env={"KUBECONFIG": str(cfg)})
    assert dead in res.err and res.code == 1
    assert mk("get", "svc", "kubernetes", "-s", apiserver.url, server=False,
              env={"MINIKUBE8S_SERVER": dead, "KUBECONFIG": str(cfg)}).code == 0


VERBS = ["get", "describe", "create", "replace", "apply", "delete", "stop", "scale", "resize",
         "patch",
         "label", "annotate", "run-container", "run", "expose", "logs", "exec", "wait",
         "cluster-info", "version", "api-resources"]


@pytest.mark.parametrize("verb", VERBS)
def test_help_has_example_and_server_flag(mk: Minikube8s, verb: str) -> None:
    out = mk(verb, "--help", server=False, env={"COLUMNS": "200"}).out
    assert "Example" in out and f"minikube8s {verb}" in out
    assert "--server" in out and "-s" in out


def test_completion_offers_resource_names(mk: Minikube8s) -> None:
    # Through the console script: click names the completion variable after the program.
    script = Path(sys.executable).parent / "minikube8s"
    if not script.exists():
        pytest.skip("the minikube8s console script is not installed in this environment")

    def complete(words: str) -> list[str]:
        env = mk.env(_MINIKUBE8S_COMPLETE="complete_bash", COMP_WORDS=words,
                     COMP_CWORD=str(len(words.split()) - 1))
        res = subprocess.run([str(script)], capture_output=True, text=True, env=env,
                             timeout=30, check=True)
        return res.stdout.split()

    assert "minions" in complete("minikube8s get min")
    assert "po,rc" in complete("minikube8s get po,r")
    assert {"run", "run-container"} <= set(complete("minikube8s ru"))


def test_node_still_starts_without_subcommand(mk: Minikube8s) -> None:
    out = mk("--help", server=False, env={"COLUMNS": "200"}).out
    assert "--role" in out and "run-container" in out


def _on_a_terminal(mk: Minikube8s, *args: str, env: dict[str, str] | None = None) -> bytes:
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "minikube8s", *args, "-s", mk.url],
                            stdout=slave, stderr=slave, env=mk.env(**(env or {})),
                            cwd=str(REPO))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=30) == 1
    return b"".join(chunks)


def test_colour_only_on_a_terminal(mk: Minikube8s, ns: str) -> None:
    tty = _on_a_terminal(mk, "get", "pods", "nope", "-n", ns)
    assert b"\x1b[31mError from server (NotFound):\x1b[0m" in tty
    assert b"\x1b[" not in _on_a_terminal(mk, "get", "pods", "nope", "-n", ns,
                                          env={"NO_COLOR": "1"})
    assert "\x1b[" not in mk.fail("get", "pods", "nope", "-n", ns).err


def test_interrupt_is_quiet(mk: Minikube8s, ns: str) -> None:
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "minikube8s", "get", "pods", "-w", "-n", ns,
                             "-s", mk.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=mk.env(), cwd=str(REPO))
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "Traceback" not in err and "Error" not in err


def test_watch_only_and_object_output(mk: Minikube8s, ns: str) -> None:
    mk("run", "old", "--image=nginx", "-n", ns)
    procs = [subprocess.Popen([sys.executable, "-m", "minikube8s", "get", "pods", *flags,
                               "-n", ns, "-s", mk.url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=mk.env(), cwd=str(REPO))
             for flags in (["--watch-only", "-o", "name"], ["-w", "-o", "name"])]
    time.sleep(2)
    mk("run", "new", "--image=nginx", "-n", ns)
    time.sleep(2)
    outs = []
    for proc in procs:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        outs.append(out.split())
    only, full = outs
    assert "pod/old" not in only and "pod/new" in only
    assert full[0] == "pod/old" and "pod/new" in full


def test_patch(mk: Minikube8s, kubectl: Kubectl, ns: str) -> None:
    mk("run-container", "pt", "--image=nginx", "--port=80", "--replicas=2", "-n", ns)
    for tool, n in ((mk, 3), (kubectl, 4), (mk, 5)):
        body = f'{{"spec":{{"replicas":{n}}}}}'
        assert tool("patch", "rc", "pt", "-p", body, "-n", ns).out == \
            "replicationcontroller/pt patched\n"
        assert tool("patch", "rc", "pt", "-p", body, "-n", ns).out == \
            "replicationcontroller/pt patched (no change)\n"
    mk("patch", "rc/pt", "--type=json", "-n", ns, "-p",
       '[{"op": "add", "path": "/metadata/labels/tier", "value": "web"}]')
    mk("patch", "rc", "pt", "--type=merge", "-n", ns, "-p", "metadata: {annotations: {a: b}}")
    # strategic: containers merge by name, so the image changes and the ports stay
    mk("patch", "rc", "pt", "-n", ns, "-p", '{"spec":{"template":{"spec":{"containers":'
       '[{"name":"pt","image":"nginx:2"}]}}}}')
    rc = obj(mk, "rc", "pt", "-n", ns)
    assert rc["metadata"]["labels"]["tier"] == "web"
    assert rc["metadata"]["annotations"] == {"a": "b"}
    (c,) = rc["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "nginx:2" and c["ports"][0]["containerPort"] == 80
    res = mk.fail("patch", "rc", "pt", "--type=json", "-p", '[{"op":"test","path":"/spec/'
                  'replicas","value":9}]', "-n", ns)
    assert res.err.startswith("Error from server (Invalid): ")
