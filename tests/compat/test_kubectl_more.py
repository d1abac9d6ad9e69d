"""Less common verbs users still reach for: chunked lists, nodes (wide, cordon, describe),
diff, server dry-run, set image, replace --force, delete --all, get --raw."""

from __future__ import annotations

import json
import re

from tests.fixtures.apiserver import ApiServerProcess

from .conftest import MANIFESTS
from .kubectl import Kubectl

RC = str(MANIFESTS / "rc.yaml")


def node_manifest(name: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"node-role.kubernetes.io/worker": ""}},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.9.0.2"}],
                   "nodeInfo": {"kubeletVersion": "v0.17.0", "osImage": "Debian GNU/Linux"}},
    })


def test_chunked_list_matches_single_page(kubectl: Kubectl, ns: str) -> None:
    for i in range(5):
        kubectl("run", f"p{i}", "--image=nginx:1.27", "-n", ns)
    whole = kubectl("get", "pods", "-n", ns, "-o", "name").out
    paged = kubectl("get", "pods", "-n", ns, "-o", "name", "--chunk-size=2").out
    assert paged == whole
    assert whole.split() == [f"pod/p{i}" for i in range(5)]
    table = kubectl("get", "pods", "-n", ns, "--chunk-size=2").out.splitlines()
    assert table[0].split()[:2] == ["NAME", "READY"]
    assert [line.split()[0] for line in table[1:]] == [f"p{i}" for i in range(5)]


def test_nodes_wide_cordon_describe(kubectl: Kubectl) -> None:
    name = f"node-k{kubectl.version.replace('.', '')}"
    kubectl("create", "-f", "-", input=node_manifest(name))
    wide = kubectl("get", "no", name, "-o", "wide").out.splitlines()
    assert re.split(r"\s{2,}", wide[0].strip()) == [
        "NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
        "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    cells = re.split(r"\s{2,}", wide[1].strip())
    assert cells[:3] == [name, "Unknown", "worker"]
    assert cells[4:8] == ["v0.17.0", "10.9.0.2", "<none>", "Debian GNU/Linux"]
    assert kubectl("cordon", name).out.strip() == f"node/{name} cordoned"
    status = kubectl("get", "nodes", name, "--no-headers").out.split()[1]
    assert status == "Unknown,SchedulingDisabled"
    assert kubectl("uncordon", name).out.strip() == f"node/{name} uncordoned"
    described = kubectl("describe", "node", name).out
    for needle in (f"Name:               {name}", "Roles:              worker",
                   "InternalIP:  10.9.0.2", "Kubelet Version:            v0.17.0"):
        assert needle in described, (needle, described)
    kubectl("delete", "node", name)


def test_diff_and_server_dry_run(kubectl: Kubectl, ns: str, tmp_path_factory: object) -> None:
    kubectl("apply", "-n", ns, "-f", RC)
    changed = open(RC).read().replace("replicas: 2", "replicas: 4")
    diff = kubectl("diff", "-n", ns, "-f", "-", input=changed, check=False)
    assert diff.code == 1, diff
    assert "-  replicas: 2" in diff.out and "+  replicas: 4" in diff.out
    same = kubectl("diff", "-n", ns, "-f", RC, check=False)
    assert same.code == 0 and same.out == "", same

    # An object made by `create` (no last-applied annotation): the diff is the label alone.
    # kubectl's patch carries "annotations": {} there, which Kubernetes' omitempty drops.
    pod = open(MANIFESTS / "pod.yaml").read()
    kubectl("create", "-n", ns, "-f", "-", input=pod)
    relabel = kubectl("diff", "-n", ns, "-f", "-", input=pod.replace("tier: front",
                                                                     "tier: back"),
                      check=False)
    changes = [ln for ln in relabel.out.splitlines()
               if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changes == ["-    tier: front", "+    tier: back"], relabel.out
    kubectl("delete", "-n", ns, "pod", "web", "--grace-period=0", "--force")

    dry = kubectl("apply", "-n", ns, "-f", "-", "--dry-run=server", input=changed)
    assert dry.out.strip() == "replicationcontroller/shop configured (server dry run)"
    assert kubectl.json("get", "-n", ns, "rc", "shop")["spec"]["replicas"] == 2
    pod = kubectl("create", "-n", ns, "-f", str(MANIFESTS / "pod.yaml"), "--dry-run=server")
    assert pod.out.strip() == "pod/web created (server dry run)"
    kubectl.fail("get", "-n", ns, "pod", "web")


def test_set_image_replace_delete_all(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "-n", ns, "-f", RC)
    out = kubectl("set", "image", "-n", ns, "rc/shop", "shop=nginx:1.28").out
    assert out.strip() == "replicationcontroller/shop image updated"
    rc = kubectl.json("get", "-n", ns, "rc", "shop")
    images = [c["image"] for c in rc["spec"]["template"]["spec"]["containers"]]
    assert images == ["nginx:1.28", "busybox:1.36"]
    uid = rc["metadata"]["uid"]

    forced = kubectl("replace", "--force", "-n", ns, "-f", RC).out
    assert 'replicationcontroller "shop" deleted' in forced
    assert "replicationcontroller/shop replaced" in forced
    rc = kubectl.json("get", "-n", ns, "rc", "shop")
    assert rc["metadata"]["uid"] != uid
    assert rc["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"

    for i in range(3):
        kubectl("run", f"d{i}", "--image=nginx:1.27", "-n", ns)
    gone = kubectl("delete", "pods", "--all", "-n", ns, "--grace-period=0", "--force").out
    assert all(f'pod "d{i}" force deleted' in gone for i in range(3)), gone
    # Only the RC's replacements are left (its controller runs in --role a).
    left = kubectl("get", "pods", "-n", ns, "-o", "name").out.split()
    assert all(n.startswith("pod/shop-") for n in left), left


def test_get_raw(kubectl: Kubectl) -> None:
    core = json.loads(kubectl("get", "--raw", "/api/v1").out)
    assert core["kind"] == "APIResourceList"
    assert json.loads(kubectl("get", "--raw", "/version").out)["major"] == "1"
    index = json.loads(kubectl("get", "--raw", "/openapi/v3").out)
    assert "api/v1" in index["paths"]


def test_describe_service_endpoints(kubectl: Kubectl, apiserver: ApiServerProcess) -> None:
    # 1.27-1.31 read the Endpoints object, 1.32+ EndpointSlices: the same line either way.
    # The kubernetes service targets the API's HTTPS port (issue 9).
    port = apiserver.secure_port
    out = kubectl("describe", "svc", "kubernetes", "-n", "default").out
    line = next(ln for ln in out.splitlines() if ln.startswith("Endpoints:"))
    assert line.split()[1] == f"127.0.0.1:{port}", out


def test_sort_by_uses_full_objects(kubectl: Kubectl, ns: str) -> None:
    # --sort-by makes kubectl ask for Table rows with includeObject=Object.
    for name in ("sc", "sa", "sb"):
        kubectl("run", name, "--image=nginx:1.27", "-n", ns)
    out = kubectl("get", "pods", "-n", ns, "--sort-by=.metadata.name", "--no-headers").out
    assert [line.split()[0] for line in out.splitlines()] == ["sa", "sb", "sc"]
    rev = kubectl("get", "pods", "-n", ns, "--sort-by=.spec.containers[0].name",
                  "-o", "name").out.split()
    assert sorted(rev) == ["pod/sa", "pod/sb", "pod/sc"]
