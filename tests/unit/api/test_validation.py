"""validation.py: Kubernetes field paths and messages for invalid objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minikube8s.api import errors
from minikube8s.api.defaults import apply_defaults
from minikube8s.api.validation import causes_for, validate, validate_status_update

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def pod(name: str = "p", **spec: Any) -> dict[str, Any]:
    p = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
         "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}
    apply_defaults(p)
    return p


def rc(**spec: Any) -> dict[str, Any]:
    r = {"apiVersion": "v1", "kind": "ReplicationController",
         "metadata": {"name": "r", "namespace": "default"},
         "spec": {"replicas": 2, "selector": {"app": "web"},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                  **spec}}
    apply_defaults(r)
    return r


def svc(**spec: Any) -> dict[str, Any]:
    s = {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "s", "namespace": "default"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}
    apply_defaults(s)
    return s


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, str]:
    return {c.field: c.message for c in causes_for(obj, old=old)}


def test_valid_objects_pass() -> None:
    validate(pod())
    validate(rc())
    validate(svc())
    ns = {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "dev"}}
    apply_defaults(ns)
    validate(ns)


def test_invalid_name_message_exact() -> None:
    with pytest.raises(errors.Invalid) as ei:
        validate(pod("Foo"))
    e = ei.value
    assert e.code == 422
    assert e.message == (
        f'Pod "Foo" is invalid: metadata.name: Invalid value: "Foo": {SUBDOMAIN_MSG}')
    status = e.to_status()
    assert status["reason"] == "Invalid"
    assert status["details"]["kind"] == "Pod" and status["details"]["name"] == "Foo"
    assert status["details"]["causes"][0] == {
        "reason": "FieldValueInvalid", "field": "metadata.name",
        "message": f'Invalid value: "Foo": {SUBDOMAIN_MSG}'}


def test_name_required_and_namespace() -> None:
    p = pod()
    del p["metadata"]["name"]
    del p["metadata"]["namespace"]
    m = messages(p)
    assert m["metadata.name"] == "Required value: name or generateName is required"
    assert m["metadata.namespace"] == "Required value"
    node = {"kind": "Node", "metadata": {"name": "n", "namespace": "x"}}
    assert messages(node)["metadata.namespace"] == "Forbidden: not allowed on this type"


def test_service_and_namespace_names_are_labels() -> None:
    s = svc()
    s["metadata"]["name"] = "a.b"
    assert "DNS-1035 label" in messages(s)["metadata.name"]
    s["metadata"]["name"] = "1abc"
    assert "DNS-1035 label" in messages(s)["metadata.name"]
    ns = {"kind": "Namespace", "metadata": {"name": "a.b"}}
    assert "RFC 1123 label" in messages(ns)["metadata.name"]


def test_labels_and_annotations() -> None:
    p = pod()
    p["metadata"]["labels"] = {"ok": "-bad", "bad key!": "v"}
    p["metadata"]["annotations"] = {"a": "x" * (256 * 1024 + 1)}
    causes = causes_for(p)
    fields = [c.field for c in causes]
    assert fields.count("metadata.labels") == 2
    assert any('Invalid value: "-bad": a valid label must be an empty string' in c.message
               for c in causes)
    assert any("name part must consist of" in c.message for c in causes)
    assert any(c.field == "metadata.annotations" and c.message.startswith("Too long")
               for c in causes)


def test_container_required_fields_and_duplicates() -> None:
    p = pod(containers=[{"name": "a"}, {"name": "a", "image": "x"}, {"image": "y"}])
    m = messages(p)
    assert m["spec.containers[0].image"] == "Required value"
    assert m["spec.containers[1].name"] == 'Duplicate value: "a"'
    assert m["spec.containers[2].name"] == "Required value"


def test_no_containers() -> None:
    assert messages(pod(containers=[]))["spec.containers"] == "Required value"


def test_ports() -> None:
    p = pod(containers=[{"name": "c", "image": "x", "ports": [
        {"containerPort": 70000}, {"containerPort": 80, "protocol": "ICMP"},
        {"containerPort": 81, "name": "http"}, {"containerPort": 82, "name": "http"},
        {"name": "Bad_Name", "containerPort": 83}, {"protocol": "TCP"}]}])
    m = messages(p)
    assert m["spec.containers[0].ports[0].containerPort"] == (
        "Invalid value: 70000: must be between 1 and 65535, inclusive")
    assert m["spec.containers[0].ports[1].protocol"] == (
        'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"')
    assert m["spec.containers[0].ports[3].name"] == 'Duplicate value: "http"'
    assert "alpha-numeric" in m["spec.containers[0].ports[4].name"]
    assert m["spec.containers[0].ports[5].containerPort"] == "Required value"


def test_enums() -> None:
    p = pod(restartPolicy="Sometimes", dnsPolicy="Weird")
    m = messages(p)
    assert m["spec.restartPolicy"] == (
        'Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"')
    assert m["spec.dnsPolicy"].startswith('Unsupported value: "Weird"')


def test_resources() -> None:
    p = pod(containers=[{"name": "c", "image": "x", "resources": {
        "requests": {"cpu": "2", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}}])
    m = messages(p)
    assert m["spec.containers[0].resources.requests[cpu]"] == (
        'Invalid value: "2": must be less than or equal to cpu limit of 500m')
    assert "spec.containers[0].resources.requests[memory]" not in m
    p = pod(containers=[{"name": "c", "image": "x", "resources": {
        "limits": {"cpu": "lots", "memory": "-1", "gpu": "1"}}}])
    m = messages(p)
    assert "quantities must match" in m["spec.containers[0].resources.limits[cpu]"]
    assert m["spec.containers[0].resources.limits[memory]"].endswith(
        "must be greater than or equal to 0")
    assert "standard resource type" in m["spec.containers[0].resources.limits[gpu]"]


def test_probes() -> None:
    c = {"name": "c", "image": "x",
         "livenessProbe": {"httpGet": {"path": "/", "port": 0}, "successThreshold": 2,
                           "initialDelaySeconds": -1},
         "readinessProbe": {},
         "startupProbe": {"httpGet": {"port": 80}, "tcpSocket": {"port": 80}}}
    m = messages(pod(containers=[c]))
    assert m["spec.containers[0].livenessProbe.httpGet.port"] == (
        "Invalid value: 0: must be between 1 and 65535, inclusive")
    assert m["spec.containers[0].livenessProbe.successThreshold"] == "Invalid value: 2: must be 1"
    assert m["spec.containers[0].livenessProbe.initialDelaySeconds"] == (
        "Invalid value: -1: must be greater than or equal to 0")
    assert m["spec.containers[0].readinessProbe"] == "Required value: must specify a handler type"
    assert m["spec.containers[0].startupProbe.tcpSocket"] == (
        "Forbidden: may not specify more than 1 handler type")


def test_volumes() -> None:
    p = pod(volumes=[{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}},
                     {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}}],
            containers=[{"name": "c", "image": "x", "volumeMounts": [
                {"name": "data", "mountPath": "/d"}, {"name": "nope", "mountPath": "/d"}]}])
    m = messages(p)
    assert m["spec.volumes[1].name"] == 'Duplicate value: "data"'
    assert m["spec.volumes[2].emptyDir"] == "Forbidden: may not specify more than 1 volume type"
    assert m["spec.containers[0].volumeMounts[1].name"] == 'Not found: "nope"'
    assert m["spec.containers[0].volumeMounts[1].mountPath"] == (
        'Invalid value: "/d": must be unique')
    p = pod(volumes=[{"name": "v"}])
    p["spec"]["volumes"][0].pop("emptyDir")
    assert messages(p)["spec.volumes[0]"] == "Required value: must specify a volume type"


def test_rc() -> None:
    r = rc(replicas=-1)
    r["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    r["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    m = messages(r)
    assert m["spec.replicas"] == "Invalid value: -1: must be greater than or equal to 0"
    assert m["spec.template.metadata.labels"] == (
        'Invalid value: map[string]string{"app":"other"}: `selector` does not match template '
        "`labels`")
    assert m["spec.template.spec.restartPolicy"] == (
        'Unsupported value: "Never": supported values: "Always"')
    r = rc()
    r["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    assert messages(r)["spec.template.spec.containers[0].image"] == "Required value"
    r = rc()
    del r["spec"]["template"]
    r["spec"]["selector"] = {}
    m = messages(r)
    assert m["spec.template"] == "Required value"
    assert m["spec.selector"] == "Required value"


def test_service() -> None:
    s = svc(ports=[{"port": 80, "name": "http"}, {"port": 0, "name": "http"}, {"port": 8080}],
            type="Bogus", sessionAffinity="Sticky", clusterIP="1.2.3", externalIPs=["x"])
    apply_defaults(s)
    m = messages(s)
    assert m["spec.ports[1].name"] == 'Duplicate value: "http"'
    assert m["spec.ports[1].port"] == "Invalid value: 0: must be between 1 and 65535, inclusive"
    assert m["spec.ports[2].name"] == "Required value"
    assert m["spec.type"].startswith('Unsupported value: "Bogus": supported values: '
                                     '"ClusterIP", "ExternalName"')
    assert m["spec.sessionAffinity"] == (
        'Unsupported value: "Sticky": supported values: "ClientIP", "None"')
    assert m["spec.clusterIP"].startswith('Invalid value: "1.2.3": must be a valid IP address')
    assert m["spec.externalIPs[0]"].startswith('Invalid value: "x"')
    assert messages(svc(ports=[]))["spec.ports"] == "Required value"
    assert "spec.ports" not in messages(svc(ports=[], clusterIP="None"))
    m = messages(svc(ports=[{"port": 80, "nodePort": 30001}]))
    assert m["spec.ports[0].nodePort"] == "Forbidden: may not be used when `type` is 'ClusterIP'"
    m = messages(svc(ports=[{"port": 80, "targetPort": 70000}]))
    assert "must be between 1 and 65535" in m["spec.ports[0].targetPort"]


def test_update_immutable_metadata() -> None:
    old = pod()
    old["metadata"]["uid"] = "u1"
    new = copy.deepcopy(old)
    new["metadata"]["name"] = "q"
    new["metadata"]["uid"] = "u2"
    m = messages(new, old)
    assert m["metadata.name"] == 'Invalid value: "q": field is immutable'
    assert m["metadata.uid"] == 'Invalid value: "u2": field is immutable'


def test_pod_update_rules() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:2"
    new["spec"]["activeDeadlineSeconds"] = 100
    new["spec"]["tolerations"] = [{"key": "a", "operator": "Exists"}]
    new["metadata"]["labels"] = {"x": "y"}
    validate(new, old=old)
    new["spec"]["restartPolicy"] = "Never"
    with pytest.raises(errors.Invalid) as ei:
        validate(new, old=old)
    assert ei.value.causes[0].field == "spec"
    assert ei.value.causes[0].message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`")


def test_pod_binding_and_status_updates() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["nodeName"] = "node-1"
    with pytest.raises(errors.Invalid):
        validate(new, old=old)
    validate(new, old=old, subresource="binding")
    bound = copy.deepcopy(new)
    bound["spec"]["nodeName"] = "node-2"
    with pytest.raises(errors.Invalid):
        validate(bound, old=new, subresource="binding")
    st_new = copy.deepcopy(new)
    st_new["status"] = {"phase": "Running", "podIP": "172.16.0.2"}
    validate_status_update(st_new, new)
    st_new["status"]["phase"] = "Dancing"
    with pytest.raises(errors.Invalid):
        validate_status_update(st_new, new)


def test_service_cluster_ip_immutable() -> None:
    old = svc(clusterIP="192.168.3.10")
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "192.168.3.11"
    assert messages(new, old)["spec.clusterIP"] == (
        'Invalid value: "192.168.3.11": field is immutable')
    new["spec"]["clusterIP"] = "192.168.3.10"
    new["spec"]["selector"] = {"app": "other"}
    validate(new, old=old)


def test_rc_selector_may_change() -> None:
    old = rc()
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"app": "web", "v": "2"}
    new["spec"]["template"]["metadata"]["labels"] = {"app": "web", "v": "2"}
    new["spec"]["replicas"] = 5
    validate(new, old=old)


def test_other_kinds() -> None:
    ep = {"kind": "Endpoints", "metadata": {"name": "e", "namespace": "d"},
          "subsets": [{"addresses": [{"ip": "nope"}], "ports": [{"port": 80}, {"port": 81}]}]}
    apply_defaults(ep)
    m = messages(ep)
    assert m["subsets[0].addresses[0].ip"].startswith('Invalid value: "nope"')
    assert m["subsets[0].ports[0].name"] == "Required value"
    node = {"kind": "Node", "metadata": {"name": "n1"}, "spec": {"podCIDR": "x"},
            "status": {"capacity": {"cpu": "x"}}}
    m = messages(node)
    assert m["spec.podCIDR"].startswith('Invalid value: "x": must be a valid CIDR')
    assert "quantities must match" in m["status.capacity[cpu]"]
    lr = {"kind": "LimitRange", "metadata": {"name": "l", "namespace": "d"},
          "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}}
    assert messages(lr)["spec.limits[0].min[cpu]"] == (
        'Invalid value: "2": min value 2 is greater than max value 1')
    rq = {"kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "d"},
          "spec": {"hard": {"pods": "ten"}}}
    assert "quantities must match" in messages(rq)["spec.hard[pods]"]
    b = {"kind": "Binding", "metadata": {"name": "p", "namespace": "d"}, "target": {}}
    assert messages(b)["target.name"] == "Required value"
    lease = {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
             "metadata": {"name": "l", "namespace": "d"}, "spec": {"leaseDurationSeconds": 0}}
    assert messages(lease)["spec.leaseDurationSeconds"] == (
        "Invalid value: 0: must be greater than 0")
    ev = {"kind": "Event", "metadata": {"name": "e", "namespace": "a"},
          "involvedObject": {"namespace": "b"}}
    assert messages(ev)["involvedObject.namespace"] == (
        'Invalid value: "b": does not match event.namespace')


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["name", "image", "ports", "containerPort", "port",
                                       "protocol", "httpGet", "livenessProbe", "volumes",
                                       "emptyDir", "resources", "limits", "cpu", "selector",
                                       "template", "metadata", "labels", "spec", "containers",
                                       "volumeMounts", "targetPort", "replicas", "env"]),
                      children, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(["Pod", "ReplicationController", "Service", "Endpoints", "Node",
                             "Namespace", "LimitRange", "ResourceQuota", "Event", "Lease"]),
       spec=_json, md=_json)
def test_validate_never_crashes(kind: str, spec: Any, md: Any) -> None:
    obj = {"kind": kind, "apiVersion": "v1", "metadata": md, "spec": spec,
           "subsets": spec, "status": spec}
    apply_defaults(obj)
    try:
        validate(obj, old=copy.deepcopy(obj))
    except errors.Invalid:
        pass


def test_pod_update_grace_period_only_from_negative_to_one() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["terminationGracePeriodSeconds"] = 5
    with pytest.raises(errors.Invalid):
        validate(new, old=old)
    old["spec"]["terminationGracePeriodSeconds"] = -1
    new["spec"]["terminationGracePeriodSeconds"] = 1
    validate(new, old=old)
