"""Valid objects for every writable resource, and hypothesis strategies that break them.

``VALID`` holds one object per resource of api/resources.py that accepts writes (the seed's
examples and the shapes the unit tests use), each accepted as is by the API server. The
strategies draw junk values (wrong types, huge and unicode strings, negative and huge numbers,
nulls, nested junk) and apply a few mutations at paths that exist in the object (replace,
drop, add), or rewrite its apiVersion, kind or name; ``json_patches`` draws RFC 6902
operations aimed at the same paths.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

Object = dict[str, Any]

TS = "2024-01-02T03:04:05Z"

_POD_SPEC: Object = {
    "restartPolicy": "Always",
    "containers": [{
        "name": "web",
        "image": "nginx",
        "command": ["sh", "-c", "echo hi; sleep 3600"],
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
        "env": [{"name": "A", "value": "1"}],
        "resources": {"limits": {"cpu": "500m", "memory": "64Mi"},
                      "requests": {"cpu": "250m", "memory": "32Mi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "livenessProbe": {"httpGet": {"path": "/", "port": 80}, "initialDelaySeconds": 30,
                          "timeoutSeconds": 5},
    }],
    "volumes": [{"name": "data", "emptyDir": {}}],
}

VALID: dict[str, Object] = {
    "namespaces": {"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "fuzz-ns", "labels": {"team": "a"}}},
    "nodes": {"apiVersion": "v1", "kind": "Node",
              "metadata": {"name": "fuzz-node", "labels": {"zone": "a"}},
              "spec": {"podCIDR": "10.99.1.0/24", "unschedulable": False},
              "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                         "conditions": [{"type": "Ready", "status": "True",
                                         "lastHeartbeatTime": TS}],
                         "addresses": [{"type": "InternalIP", "address": "192.168.0.10"}]}},
    "pods": {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "fuzz-pod", "labels": {"app": "web"},
                          "annotations": {"note": "x"}},
             "spec": _POD_SPEC},
    "replicationcontrollers": {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "fuzz-rc", "labels": {"name": "nginx"}},
        "spec": {"replicas": 2, "selector": {"name": "nginx"},
                 "template": {"metadata": {"labels": {"name": "nginx"}},
                              "spec": copy.deepcopy(_POD_SPEC)}}},
    "services": {"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "fuzz-svc"},
                 "spec": {"selector": {"name": "nginx"}, "externalIPs": ["12.0.0.5"],
                          "sessionAffinity": "None",
                          "ports": [{"name": "http", "port": 80, "targetPort": 80,
                                     "protocol": "TCP"},
                                    {"name": "https", "port": 443, "targetPort": "https",
                                     "protocol": "TCP"}]}},
    "endpoints": {"apiVersion": "v1", "kind": "Endpoints",
                  "metadata": {"name": "fuzz-ep"},
                  "subsets": [{"addresses": [{"ip": "10.1.2.3", "nodeName": "n1"}],
                               "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]},
    "events": {"apiVersion": "v1", "kind": "Event",
               "metadata": {"name": "fuzz-ev"},
               "involvedObject": {"kind": "Pod", "name": "p", "namespace": "fuzz",
                                  "apiVersion": "v1"},
               "reason": "Started", "message": "started", "type": "Normal",
               "source": {"component": "kubelet", "host": "n1"}, "count": 1,
               "firstTimestamp": TS, "lastTimestamp": TS},
    "limitranges": {"apiVersion": "v1", "kind": "LimitRange",
                    "metadata": {"name": "fuzz-limits"},
                    "spec": {"limits": [{"type": "Container", "default": {"cpu": "100m"},
                                         "defaultRequest": {"cpu": "50m"},
                                         "max": {"cpu": "4", "memory": "8Gi"},
                                         "min": {"cpu": "1m"}}]}},
    "resourcequotas": {"apiVersion": "v1", "kind": "ResourceQuota",
                       "metadata": {"name": "fuzz-quota"},
                       "spec": {"hard": {"pods": "1000", "cpu": "1000",
                                         "memory": "1000Gi", "services": "1000"}}},
    "configmaps": {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "fuzz-cm", "labels": {"app": "web"}},
                   "data": {"mode": "fast", "nginx.conf": "server {}\n"},
                   "binaryData": {"blob": "AP8="}},
    "secrets": {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "fuzz-secret"}, "type": "Opaque",
                "data": {"password": "czNjcmV0"}, "stringData": {"user": "admin"}},
    "leases": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "fuzz-lease"},
               "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 15,
                        "renewTime": "2024-01-02T03:04:05.000000Z", "leaseTransitions": 0}},
}

BINDING: Object = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "fuzz-pod"},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": "fuzz-node"}}
EVICTION: Object = {"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": "fuzz-pod"}, "deleteOptions": {"gracePeriodSeconds": 0}}
SCALE: Object = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                 "metadata": {"name": "fuzz-rc"}, "spec": {"replicas": 3}}

# -- junk -------------------------------------------------------------------------------------

_NASTY_TEXT = ["", " ", "-", "a" * 64, "A_B", "ñandú", "名前", "\u0000", "\ud7ff\ue000",
               "../..", "a/b", "a.b.", "0", "-1", "1e309", "true", "null", "{}", "[]",
               "' OR 1=1 --", "%00", "\\", "\n\t", "\u202e", "x" * 254, "🙂"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([-1, 0, 2**31, 2**63, -(2**64), 10**30, 65536, 1.5, -0.0, 1e300]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(_NASTY_TEXT),
    st.text(max_size=20),
)

huge_strings = st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "é", "名", "🙂", "-"]),
                         st.sampled_from([255, 1000, 70_000]))

junk: st.SearchStrategy[Any] = st.recursive(
    st.one_of(scalars, huge_strings),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(["name", "metadata", "spec", "status",
                                                   "kind", "items", "ports", "containers",
                                                   "labels", "$patch", "$retainKeys"]),
                                  st.text(max_size=8)), children, max_size=3)),
    max_leaves=8,
)

bad_names = st.one_of(st.sampled_from(_NASTY_TEXT), huge_strings, st.text(max_size=30),
                      st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2))


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside ``obj`` (dict keys and list indexes), parents first."""
    out: list[tuple[Any, ...]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((*prefix, i))
            out.extend(paths(v, (*prefix, i)))
    return out


def _parent(obj: Any, path: tuple[Any, ...]) -> Any:
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    return cur


@st.composite
def mutated(draw: st.DrawFn, base: Object, *, api_version: str = "") -> Object:
    """``base`` with 1-4 mutations; ``api_version`` replaces the base's first."""
    obj = copy.deepcopy(base)
    if api_version:
        obj["apiVersion"] = api_version
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = paths(obj)
        if not where:
            break
        path = draw(st.sampled_from(where))
        op = draw(st.sampled_from(["replace", "replace", "drop", "add", "meta", "grow"]))
        parent = _parent(obj, path)
        key = path[-1]
        if op == "replace":
            parent[key] = draw(junk)
        elif op == "drop":
            del parent[key]
        elif op == "add":
            target = parent[key]
            if isinstance(target, dict):
                target[draw(st.text(max_size=10))] = draw(junk)
            elif isinstance(target, list):
                target.append(draw(junk))
            else:
                parent[key] = [target, draw(junk)]
        elif op == "grow":
            # A valid-looking list made long: many containers, ports, addresses.
            target = parent[key]
            if isinstance(target, list) and target:
                parent[key] = target * draw(st.sampled_from([2, 50, 300]))
            else:
                parent[key] = draw(huge_strings)
        else:
            which = draw(st.sampled_from(["apiVersion", "kind", "name", "namespace",
                                          "labels", "annotations", "resourceVersion", "uid",
                                          "generateName", "finalizers", "ownerReferences",
                                          "deletionTimestamp", "creationTimestamp"]))
            value = draw(st.one_of(bad_names, junk))
            if which in ("apiVersion", "kind"):
                obj[which] = value
            else:
                md = obj.get("metadata")
                if not isinstance(md, dict):
                    md = obj["metadata"] = {}
                md[which] = value
    return obj


def _pointer(path: tuple[Any, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@st.composite
def json_patches(draw: st.DrawFn, base: Object) -> list[Any]:
    """RFC 6902 operations at real paths (and some not), with junk values and junk ops."""
    where = paths(base) or [("metadata",)]
    ops: list[Any] = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.one_of(st.sampled_from(where).map(_pointer),
                              st.sampled_from(["", "/", "/-", "/metadata/labels/-",
                                               "/spec/containers/-", "/spec/containers/99",
                                               "/spec/containers/-1", "/a~2b", "metadata",
                                               "/status/~", "/spec/ports/01"]),
                              st.text(max_size=10)))
        op = draw(st.sampled_from(["add", "remove", "replace", "move", "copy", "test",
                                   "ADD", "", "delete"]))
        entry: Any = {"op": op, "path": path}
        if draw(st.booleans()):
            entry["value"] = draw(junk)
        if op in ("move", "copy") or draw(st.integers(0, 5)) == 0:
            entry["from"] = draw(st.one_of(st.sampled_from(where).map(_pointer),
                                           st.text(max_size=6), junk))
        if draw(st.integers(0, 8)) == 0:
            entry = draw(junk)
        ops.append(entry)
    return ops
