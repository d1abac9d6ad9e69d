"""Per-kind describers: the ``Key:  value`` lines kubectl prints for a pod, a replication
controller, a service, a node, or any other object (metadata, then spec and status as YAML).

Each returns lines of cells that describe.py lays out with ``tabwrite`` (Go's text/tabwriter
algorithm), so the cells here are exactly kubectl's (pkg/describe/describe.go), trailing
spaces included where kubectl writes them. Pure functions of the objects given; describe.py
fetches what they need (endpoints, the node's lease and pods).
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from ..api.quantity import canonical, format_quantity, parse_quantity, quantity_format
from ..api.resources import Resource
from . import printers

Object = dict[str, Any]
Lines = list[list[str]]


def human_duration(seconds: int) -> str:
    """apimachinery's HumanDuration, which kubectl's describers use for event ages (the
    API server's tables.py does the same for AGE cells; the CLI does not import the
    server's package)."""
    if seconds < 0:
        return "0s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    years = days // 365
    if years < 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def since(timestamp: Any, *, now: datetime) -> str:
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        t = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return human_duration(int((now - t).total_seconds()))


def format_endpoints(ep: Object) -> str:
    """``IP:PORT,IP:PORT`` (at most three, then ``+ N more...``), as kubectl prints them."""
    pairs = [f"{a.get('ip')}:{p.get('port')}" for s in ep.get("subsets") or []
             for p in (s.get("ports") or [{}]) for a in s.get("addresses") or []]
    if not pairs:
        return ""
    more = f" + {len(pairs) - 3} more..." if len(pairs) > 3 else ""
    return ",".join(pairs[:3]) + more


def dig(obj: Any, *path: str) -> Any:
    cur = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return cur


def _map_lines(label: str, value: Any, indent: str = "") -> Lines:
    """``Labels:  a=b`` then one ``k=v`` per continuation line; ``<none>`` when empty."""
    if not isinstance(value, dict) or not value:
        return [[f"{indent}{label}:", "<none>"]]
    items = [f"{k}={value[k]}" for k in sorted(value)]
    out = [[f"{indent}{label}:", items[0]]]
    out.extend([f"{indent}", item] for item in items[1:])
    return out


def _annotations(value: Any) -> Lines:
    if isinstance(value, dict):
        # kubectl hides the last-applied configuration: it is the whole object again.
        value = {k: v for k, v in value.items()
                 if k != "kubectl.kubernetes.io/last-applied-configuration"}
    return _map_lines("Annotations", value)


def header(obj: Object, *, namespaced: bool) -> Lines:
    md = obj.get("metadata") or {}
    lines: Lines = [["Name:", str(md.get("name", ""))]]
    if namespaced:
        lines.append(["Namespace:", str(md.get("namespace", ""))])
    lines += _map_lines("Labels", md.get("labels"))
    lines += _annotations(md.get("annotations"))
    return lines


GO_ZERO_TIME = "Mon, 01 Jan 0001 00:00:00 +0000"


def _rfc1123(value: Any) -> str:
    """kubectl's describe time format: ``Sun, 29 Nov 2026 07:22:18 +0000`` (an unset time
    prints as Go's zero time, as kubectl's does)."""
    if not value:
        return GO_ZERO_TIME
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.strftime("%a, %d %b %Y %H:%M:%S %z")


def _state(label: str, state: Any, indent: str) -> Lines:
    if not isinstance(state, dict) or not state:
        return [[f"{indent}{label}:", "Waiting"]]
    kind, detail = next(iter(state.items()))
    detail = detail if isinstance(detail, dict) else {}
    lines: Lines = [[f"{indent}{label}:", kind.capitalize()]]
    if detail.get("reason"):
        lines.append([f"{indent}  Reason:", str(detail["reason"])])
    if kind == "terminated":
        lines.append([f"{indent}  Exit Code:", str(detail.get("exitCode", 0))])
    if detail.get("startedAt"):
        lines.append([f"{indent}  Started:", _rfc1123(detail["startedAt"])])
    if detail.get("finishedAt"):
        lines.append([f"{indent}  Finished:", _rfc1123(detail["finishedAt"])])
    return lines


def _containers(containers: Any, statuses: Any = None, *, name_indent: str = "  ",
                indent: str = "    ") -> Lines:
    """kubectl's describeContainers: basic info, then state when the kubelet reported one."""
    by_name = {s.get("name"): s for s in statuses or [] if isinstance(s, dict)}
    lines: Lines = []
    for c in containers or []:
        st = by_name.get(c.get("name"))
        lines.append([f"{name_indent}{c.get('name', '')}:"])
        if st:
            lines.append([f"{indent}Container ID:", str(st.get("containerID") or "")])
        lines.append([f"{indent}Image:", str(c.get("image", ""))])
        if st:
            lines.append([f"{indent}Image ID:", str(st.get("imageID") or "")])
        ports = c.get("ports") or []
        port = ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in ports)
        lines.append([f"{indent}Port{'s' if len(ports) > 1 else ''}:", port or "<none>"])
        host = ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports)
        lines.append([f"{indent}Host Port{'s' if len(ports) > 1 else ''}:", host or "<none>"])
        for key, label in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                lines.append([f"{indent}{label}:"])
                lines.extend([f"{indent}  {x}"] for x in c[key])
        if st:
            lines += _state("State", st.get("state"), indent)
            if st.get("lastState"):
                lines += _state("Last State", st.get("lastState"), indent)
            lines.append([f"{indent}Ready:", "True" if st.get("ready") else "False"])
            lines.append([f"{indent}Restart Count:", str(st.get("restartCount", 0))])
        for kind in ("limits", "requests"):
            amounts = (c.get("resources") or {}).get(kind) or {}
            if amounts:
                lines.append([f"{indent}{kind.capitalize()}:"])
                lines.extend([f"{indent}  {k}:", canonical(amounts[k])] for k in sorted(amounts))
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            p = c.get(probe)
            if isinstance(p, dict):
                label = probe[0].upper() + probe[1:].replace("Probe", "")
                lines.append([f"{indent}{label}:", _probe(p)])
        if c.get("envFrom"):
            lines += _env_from(c["envFrom"], indent)
        env = c.get("env") or []
        if env:
            lines.append([f"{indent}Environment:"])
            lines.extend(_env_var(e, f"{indent}  ") for e in env if isinstance(e, dict))
        else:
            lines.append([f"{indent}Environment:", "<none>"])
        mounts = c.get("volumeMounts") or []
        if mounts:
            lines.append([f"{indent}Mounts:"])
            # kubectl sorts them by mount path
            lines.extend([f"{indent}  {m.get('mountPath')} from {m.get('name')} "
                          f"({_mount_flags(m)})"]
                         for m in sorted(mounts, key=lambda m: str(m.get("mountPath"))))
        else:
            lines.append([f"{indent}Mounts:", "<none>"])
    return lines


def _optional(ref: Any) -> str:
    return "true" if isinstance(ref, dict) and ref.get("optional") is True else "false"


def _env_var(e: Object, indent: str) -> list[str]:
    """describeContainerEnvVars: a value, or where the value comes from."""
    name = f"{indent}{e.get('name')}:"
    source = e.get("valueFrom")
    if not isinstance(source, dict):
        return [name, str(e.get("value", ""))]
    secret, cm = source.get("secretKeyRef"), source.get("configMapKeyRef")
    if isinstance(secret, dict):
        return [name, f"<set to the key '{secret.get('key', '')}' in secret "
                f"'{secret.get('name', '')}'>", f"Optional: {_optional(secret)}"]
    if isinstance(cm, dict):
        return [name, f"<set to the key '{cm.get('key', '')}' of config map "
                f"'{cm.get('name', '')}'>", f"Optional: {_optional(cm)}"]
    field = source.get("fieldRef")
    if isinstance(field, dict):
        return [name, f" ({field.get('apiVersion', 'v1')}:{field.get('fieldPath', '')})"]
    return [name, ""]


def _env_from(sources: Any, indent: str) -> Lines:
    """describeContainerEnvFrom."""
    lines: Lines = [[f"{indent}Environment Variables from:"]]
    for src in sources if isinstance(sources, list) else []:
        if not isinstance(src, dict):
            continue
        ref, kind = (src.get("configMapRef"), "ConfigMap") if src.get("configMapRef") \
            else (src.get("secretRef"), "Secret")
        what = f"{kind} with prefix '{src['prefix']}'" if src.get("prefix") else kind
        lines.append([f"{indent}  {dig(ref, 'name') or ''}", what,
                      f"Optional: {_optional(ref)}"])
    return lines


def _mount_flags(m: Object) -> str:
    flags = ["ro" if m.get("readOnly") else "rw"]
    if m.get("subPath"):
        flags.append(f'path="{m["subPath"]}"')
    return ",".join(flags)


def _volume(v: Object, indent: str) -> Lines:
    """kubectl's print<Kind>VolumeSource for the kinds minikube8s mounts; the others by
    name."""
    i2 = f"{indent}    "
    if isinstance(v.get("secret"), dict):
        s = v["secret"]
        return [[f"{i2}Type:", "Secret (a volume populated by a Secret)"],
                [f"{i2}SecretName:", str(s.get("secretName", ""))],
                [f"{i2}Optional:", _optional(s)]]
    if isinstance(v.get("configMap"), dict):
        c = v["configMap"]
        return [[f"{i2}Type:", "ConfigMap (a volume populated by a ConfigMap)"],
                [f"{i2}Name:", str(c.get("name", ""))], [f"{i2}Optional:", _optional(c)]]
    if isinstance(v.get("emptyDir"), dict):
        e = v["emptyDir"]
        return [[f"{i2}Type:", "EmptyDir (a temporary directory that shares a pod's lifetime)"],
                [f"{i2}Medium:", str(e.get("medium", ""))],
                [f"{i2}SizeLimit:", str(e.get("sizeLimit") or "<unset>")]]
    if isinstance(v.get("hostPath"), dict):
        h = v["hostPath"]
        return [[f"{i2}Type:", "HostPath (bare host directory volume)"],
                [f"{i2}Path:", str(h.get("path", ""))],
                [f"{i2}HostPathType:", str(h.get("type") or "<none>")]]
    if isinstance(v.get("projected"), dict):
        lines = [[f"{i2}Type:", "Projected (a volume that contains injected data from "
                  "multiple sources)"]]
        for src in v["projected"].get("sources") or []:
            if isinstance(dig(src, "secret"), dict):
                lines += [[f"{i2}SecretName:", str(src["secret"].get("name", ""))],
                          [f"{i2}SecretOptionalName:", _go_bool_ptr(src["secret"])]]
            elif isinstance(dig(src, "configMap"), dict):
                lines += [[f"{i2}ConfigMapName:", str(src["configMap"].get("name", ""))],
                          [f"{i2}ConfigMapOptional:", _go_bool_ptr(src["configMap"])]]
        return lines
    return [[f"{i2}Type:", next((k for k in v if k != "name"), "")]]


def _go_bool_ptr(ref: Object) -> str:
    """A *bool printed with %v: its address when set (kubectl prints that), <nil> when not."""
    return "<nil>" if ref.get("optional") is None else _optional(ref)


def _pod_spec_tail(spec: Object, indent: str = "") -> Lines:
    """Volumes, Node-Selectors and Tolerations, as both pod and pod-template describers end."""
    lines: Lines = []
    volumes = spec.get("volumes") or []
    if volumes:
        lines.append([f"{indent}Volumes:"])
        for v in volumes:
            lines.append([f"{indent}  {v.get('name')}:"])
            lines += _volume(v, indent)
    else:
        lines.append([f"{indent}Volumes:", "<none>"])
    return lines


def _tolerations(spec: Object, indent: str = "") -> Lines:
    tol = spec.get("tolerations") or []
    if not tol:
        return [[f"{indent}Tolerations:", "<none>"]]
    texts = []
    for t in tol:
        text = str(t.get("key", ""))
        if t.get("value"):
            text += f"={t['value']}"
        if t.get("effect"):
            text += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            text += " op=Exists"
        if t.get("tolerationSeconds") is not None:
            text += f" for {t['tolerationSeconds']}s"
        texts.append(text)
    return [[f"{indent}Tolerations:", texts[0]], *([indent, x] for x in texts[1:])]


def _probe(p: Object) -> str:
    if isinstance(p.get("httpGet"), dict):
        h = p["httpGet"]
        what = f"http-get {h.get('scheme', 'HTTP').lower()}://:{h.get('port')}{h.get('path', '')}"
    elif isinstance(p.get("tcpSocket"), dict):
        what = f"tcp-socket :{p['tcpSocket'].get('port')}"
    elif isinstance(p.get("exec"), dict):
        what = f"exec {p['exec'].get('command')}"
    else:
        what = "unknown"
    return (f"{what} delay={p.get('initialDelaySeconds', 0)}s "
            f"timeout={p.get('timeoutSeconds', 1)}s period={p.get('periodSeconds', 10)}s "
            f"#success={p.get('successThreshold', 1)} #failure={p.get('failureThreshold', 3)}")


def _qos(spec: Object, status: Object) -> str:
    if status.get("qosClass"):
        return str(status["qosClass"])
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    return "Burstable"


def describe_pod(obj: Object) -> Lines:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    md = obj.get("metadata") or {}
    lines = header(obj, namespaced=True)[:2]
    if spec.get("priority") is not None:
        lines.append(["Priority:", str(spec["priority"])])
    if spec.get("serviceAccountName"):
        lines.append(["Service Account:", str(spec["serviceAccountName"])])
    node = spec.get("nodeName")
    lines.append(["Node:", f"{node}/{status.get('hostIP', '')}" if node else "<none>"])
    if status.get("startTime"):
        lines.append(["Start Time:", _rfc1123(status["startTime"])])
    lines += _map_lines("Labels", md.get("labels"))
    lines += _annotations(md.get("annotations"))
    if md.get("deletionTimestamp"):
        lasts = since(md["deletionTimestamp"], now=datetime.now(UTC))
        lines.append(["Status:", f"Terminating (lasts {lasts})"])
    else:
        lines.append(["Status:", str(status.get("phase") or "Pending")])
    for key in ("reason", "message"):
        if status.get(key):
            lines.append([f"{key.capitalize()}:", str(status[key])])
    lines.append(["IP:", str(status.get("podIP") or "")])
    ips = [str(i.get("ip")) for i in status.get("podIPs") or [] if isinstance(i, dict)]
    if ips:
        lines.append(["IPs:"])
        lines.extend(["  IP:", ip] for ip in ips)
    else:
        lines.append(["IPs:", "<none>"])
    owners = md.get("ownerReferences") or []
    controller = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if controller:
        lines.append(["Controlled By:", f"{controller.get('kind')}/{controller.get('name')}"])
    lines.append(["Containers:"])
    lines += _containers(spec.get("containers"), status.get("containerStatuses"))
    conds = status.get("conditions") or []
    if conds:
        lines.append(["Conditions:"])
        lines.append(["  Type", "Status"])
        # kubectl writes "%v \t%v \n": both cells end in a space
        lines.extend([f"  {c.get('type')} ", f"{c.get('status')} "] for c in conds)
    lines += _pod_spec_tail(spec)
    lines.append(["QoS Class:", _qos(spec, status)])
    lines += _map_lines("Node-Selectors", spec.get("nodeSelector"))
    lines += _tolerations(spec)
    return lines


def describe_rc(obj: Object, pods: list[Object]) -> Lines:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    lines = header(obj, namespaced=True)[:2]
    sel = spec.get("selector") or {}
    lines.append(["Selector:", ",".join(f"{k}={v}" for k, v in sorted(sel.items()))])
    md = obj.get("metadata") or {}
    lines += _map_lines("Labels", md.get("labels"))
    lines += _annotations(md.get("annotations"))
    lines.append(["Replicas:", f"{status.get('replicas', 0)} current / "
                               f"{spec.get('replicas', 1)} desired"])
    phases = [str((p.get("status") or {}).get("phase") or "Pending") for p in pods]
    lines.append(["Pods Status:", f"{phases.count('Running')} Running / "
                                  f"{phases.count('Pending')} Waiting / "
                                  f"{phases.count('Succeeded')} Succeeded / "
                                  f"{phases.count('Failed')} Failed"])
    template = spec.get("template") or {}
    tspec = template.get("spec") or {}
    lines.append(["Pod Template:"])
    lines += _map_lines("Labels", dig(template, "metadata", "labels"), indent="  ")
    lines.append(["  Containers:"])
    lines += _containers(tspec.get("containers"), name_indent="   ", indent="    ")
    lines += _pod_spec_tail(tspec, indent="  ")
    lines += _map_lines("Node-Selectors", tspec.get("nodeSelector"), indent="  ")
    lines += _tolerations(tspec, indent="  ")
    return lines


def _port_endpoints(ep: Object | None, port_name: str) -> str:
    if not ep:
        return "<none>"
    subsets = [{**sub, "ports": [p for p in sub.get("ports") or []
                                 if (p.get("name") or "") == port_name]}
               for sub in ep.get("subsets") or []]
    return format_endpoints({"subsets": [x for x in subsets if x["ports"]]}) or "<none>"


def describe_service(obj: Object, endpoints: Object | None) -> Lines:
    spec = obj.get("spec") or {}
    lines = header(obj, namespaced=True)
    sel = spec.get("selector") or {}
    lines.append(["Selector:", ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
                  or "<none>"])
    lines.append(["Type:", str(spec.get("type") or "ClusterIP")])
    if spec.get("ipFamilyPolicy"):
        lines.append(["IP Family Policy:", str(spec["ipFamilyPolicy"])])
    if spec.get("ipFamilies"):
        lines.append(["IP Families:", ",".join(spec["ipFamilies"])])
    lines.append(["IP:", str(spec.get("clusterIP") or "")])
    if spec.get("clusterIPs"):
        lines.append(["IPs:", ",".join(spec["clusterIPs"])])
    if spec.get("externalIPs"):
        lines.append(["External IPs:", ",".join(spec["externalIPs"])])
    for p in spec.get("ports") or []:
        proto = p.get("protocol", "TCP")
        lines.append(["Port:", p.get("name") or "<unset>", f"{p.get('port')}/{proto}"])
        lines.append(["TargetPort:", f"{p.get('targetPort', p.get('port'))}/{proto}"])
        if p.get("nodePort"):
            lines.append(["NodePort:", p.get("name") or "<unset>", f"{p['nodePort']}/{proto}"])
        lines.append(["Endpoints:", _port_endpoints(endpoints, p.get("name") or "")])
    lines.append(["Session Affinity:", str(spec.get("sessionAffinity") or "None")])
    if spec.get("internalTrafficPolicy"):
        lines.append(["Internal Traffic Policy:", str(spec["internalTrafficPolicy"])])
    return lines


_SYSTEM_INFO = (("machineID", "Machine ID"), ("systemUUID", "System UUID"),
                ("bootID", "Boot ID"), ("kernelVersion", "Kernel Version"),
                ("osImage", "OS Image"), ("operatingSystem", "Operating System"),
                ("architecture", "Architecture"),
                ("containerRuntimeVersion", "Container Runtime Version"),
                ("kubeletVersion", "Kubelet Version"), ("kubeProxyVersion", "Kube-Proxy Version"))


def describe_node(obj: Object, lease: Object | str | None,
                   pods: list[Object] | None = None) -> Lines:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    md = obj.get("metadata") or {}
    labels = md.get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels
                   if k.startswith("node-role.kubernetes.io/"))
    lines: Lines = [["Name:", str(md.get("name", ""))],
                    ["Roles:", ",".join(roles) or "<none>"]]
    lines += _map_lines("Labels", labels)
    lines += _annotations(md.get("annotations"))
    lines.append(["CreationTimestamp:", _rfc1123(md.get("creationTimestamp") or "")])
    taints = [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
              for t in spec.get("taints") or []]
    lines.append(["Taints:", taints[0] if taints else "<none>"])
    lines.extend(["", t] for t in taints[1:])
    lines.append(["Unschedulable:", "true" if spec.get("unschedulable") else "false"])
    if isinstance(lease, str):
        lines.append(["Lease:", lease])
    elif lease is not None:
        ls = lease.get("spec") or {}
        lines.append(["Lease:"])
        lines.append(["  HolderIdentity:", str(ls.get("holderIdentity") or "<unset>")])
        lines.append(["  AcquireTime:", _rfc1123(ls["acquireTime"]) if ls.get("acquireTime")
                      else "<unset>"])
        lines.append(["  RenewTime:", _rfc1123(ls["renewTime"]) if ls.get("renewTime")
                      else "<unset>"])
    conds = status.get("conditions") or []
    lines.append(["Conditions:"])
    lines.append(["  Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason",
                  "Message"])
    lines.append(["  ----", "------", "-----------------", "------------------", "------",
                  "-------"])
    # kubectl writes "  %v \t%v \t%s \t%s \t%v \t%v\n": cells end in a space
    lines.extend([f"  {c.get('type')} ", f"{c.get('status')} ",
                  _rfc1123(c.get("lastHeartbeatTime") or "") + " ",
                  _rfc1123(c.get("lastTransitionTime") or "") + " ",
                  f"{c.get('reason', '')} ", str(c.get("message", ""))] for c in conds)
    lines.append(["Addresses:"])
    lines.extend([f"  {a.get('type')}:", str(a.get("address"))]
                 for a in status.get("addresses") or [])
    for label in ("capacity", "allocatable"):
        res = status.get(label) or {}
        if res:
            lines.append([f"{label.capitalize()}:"])
            lines.extend([f"  {k}:", str(v)] for k, v in sorted(res.items()))
    info = status.get("nodeInfo") or {}
    if info:
        lines.append(["System Info:"])
        lines.extend([f"  {label}:", str(info.get(key, ""))] for key, label in _SYSTEM_INFO)
    if spec.get("podCIDR"):
        lines.append(["PodCIDR:", str(spec["podCIDR"])])
    if spec.get("podCIDRs"):
        lines.append(["PodCIDRs:", ",".join(spec["podCIDRs"])])
    if spec.get("providerID"):
        lines.append(["ProviderID:", str(spec["providerID"])])
    if pods is not None:
        lines += _node_resources(status, pods)
    return lines


def _pod_totals(pod: Object) -> tuple[dict[str, Fraction], dict[str, Fraction], dict[str, str]]:
    """PodRequestsAndLimits: containers summed, each init container a floor; with formats."""
    reqs: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    fmts: dict[str, str] = {}
    spec = pod.get("spec") or {}
    for kind, target in (("requests", reqs), ("limits", limits)):
        for c in spec.get("containers") or []:
            for name, value in ((c.get("resources") or {}).get(kind) or {}).items():
                target[name] = target.get(name, Fraction(0)) + parse_quantity(value)
                fmts.setdefault(name, quantity_format(value))
        for c in spec.get("initContainers") or []:
            for name, value in ((c.get("resources") or {}).get(kind) or {}).items():
                target[name] = max(target.get(name, Fraction(0)), parse_quantity(value))
                fmts.setdefault(name, quantity_format(value))
    return reqs, limits, fmts


def _qty(value: Fraction, fmt: str) -> str:
    return format_quantity(value, fmt) if value else "0"  # type: ignore[arg-type]


def _pct(value: Fraction, total: Fraction) -> int:
    return int(value * 100 / total) if total else 0


def _node_resources(status: Object, pods: list[Object]) -> Lines:
    """kubectl's describeNodeResource: per-pod requests and limits, then the totals."""
    alloc_raw = status.get("allocatable") or status.get("capacity") or {}
    alloc = {k: parse_quantity(v) for k, v in alloc_raw.items()}
    lines: Lines = [["Non-terminated Pods:", f"({len(pods)} in total)"],
                    ["  Namespace", "Name", "", "CPU Requests", "CPU Limits",
                     "Memory Requests", "Memory Limits", "Age"],
                    ["  ---------", "----", "", "------------", "----------",
                     "---------------", "-------------", "---"]]
    totals: dict[str, dict[str, Fraction]] = {"requests": {}, "limits": {}}
    fmts: dict[str, str] = {}
    now = datetime.now(UTC)
    for pod in pods:
        reqs, limits, pfmts = _pod_totals(pod)
        for k, f in pfmts.items():
            fmts.setdefault(k, f)
        for name, table in (("requests", reqs), ("limits", limits)):
            for k, q in table.items():
                totals[name][k] = totals[name].get(k, Fraction(0)) + q
        md = pod.get("metadata") or {}
        cells = [f"  {md.get('namespace', '')}", str(md.get("name", "")), ""]
        for res, table in (("cpu", reqs), ("cpu", limits), ("memory", reqs),
                           ("memory", limits)):
            v = table.get(res, Fraction(0))
            cells.append(f"{_qty(v, pfmts.get(res, 'DecimalSI'))} "
                         f"({_pct(v, alloc.get(res, Fraction(0)))}%)")
        cells.append(since(md.get("creationTimestamp"), now=now))
        lines.append(cells)
    lines.append(["Allocated resources:"])
    lines.append(["  (Total limits may be over 100 percent, i.e., overcommitted.)"])
    lines.append(["  Resource", "Requests", "Limits"])
    lines.append(["  --------", "--------", "------"])
    for res in ("cpu", "memory", "ephemeral-storage"):
        req = totals["requests"].get(res, Fraction(0))
        lim = totals["limits"].get(res, Fraction(0))
        fmt = fmts.get(res, "BinarySI" if res != "cpu" else "DecimalSI")
        lines.append([f"  {res}", f"{_qty(req, fmt)} ({_pct(req, alloc.get(res, Fraction(0)))}%)",
                      f"{_qty(lim, fmt)} ({_pct(lim, alloc.get(res, Fraction(0)))}%)"])
    for res in sorted(alloc_raw):
        if "/" in res or res.startswith("hugepages-"):
            fmt = fmts.get(res, "DecimalSI")
            lines.append([f"  {res}", _qty(totals["requests"].get(res, Fraction(0)), fmt),
                          _qty(totals["limits"].get(res, Fraction(0)), fmt)])
    return lines


def describe_generic(obj: Object, res: Resource) -> Lines:
    lines = header(obj, namespaced=res.namespaced)
    lines.append(["API Version:", str(obj.get("apiVersion") or res.group_version)])
    lines.append(["Kind:", str(obj.get("kind") or res.kind)])
    for section in ("spec", "status", "data", "subsets", "limits"):
        value = obj.get(section)
        if value:
            lines.append([f"{section.capitalize()}:"])
            for text in printers.to_yaml(value).rstrip("\n").split("\n"):
                lines.append([f"  {text}"])
    return lines
