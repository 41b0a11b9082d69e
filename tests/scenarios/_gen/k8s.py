"""Builders for real-shaped Kubernetes objects, used by `scenarios.py` to write
the scenario fixtures. The committed fixtures are the YAML this writes; this
file only saves typing. Objects follow what the API server returns: server
defaults, Deployment -> ReplicaSet -> Pod owner references with
pod-template-hash, kubelet container statuses, conditions, legacy Events.
"""

import base64
import copy
import hashlib
import json
import os
import shutil
import uuid
from datetime import datetime, timedelta, timezone

import yaml

NOW = datetime(2026, 11, 20, 9, 0, 14, tzinfo=timezone.utc)
ALNUM = "bcdfghjklmnpqrstvwxz2456789"


def ts(minutes_ago=0.0, days=0, hours=0, seconds=0):
    t = NOW - timedelta(minutes=minutes_ago, days=days, hours=hours, seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def h(text, n=10, alphabet=ALNUM):
    d = hashlib.sha256(text.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in d[:n])


def hexh(text, n=64):
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def uid(*parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def rv(*parts):
    return str(4_000_000 + int(hexh("rv" + "/".join(parts), 8), 16) % 2_000_000)


def ip(prefix, *parts):
    v = int(hexh("/".join(parts), 8), 16)
    return f"{prefix}.{v % 3}.{2 + v // 3 % 250}"


def svc_ip(ns, name):
    v = int(hexh(ns + "/" + name, 8), 16)
    return f"10.96.{v % 250 + 1}.{v // 250 % 250 + 2}"


def b64(s):
    return base64.b64encode(s.encode()).decode()


# ---------------------------------------------------------------- containers

def http_probe(path, port, initial=0, period=10, timeout=1, failure=3):
    p = {"httpGet": {"path": path, "port": port, "scheme": "HTTP"}}
    if initial:
        p["initialDelaySeconds"] = initial
    p.update({"timeoutSeconds": timeout, "periodSeconds": period, "successThreshold": 1,
              "failureThreshold": failure})
    return p


def tcp_probe(port, initial=0, period=10):
    p = {"tcpSocket": {"port": port}}
    if initial:
        p["initialDelaySeconds"] = initial
    p.update({"timeoutSeconds": 1, "periodSeconds": period, "successThreshold": 1, "failureThreshold": 3})
    return p


def container(name, image, ports=(), env=None, env_from=None, resources=None, mounts=None,
              readiness=None, liveness=None, startup=None, command=None, args=None,
              secure=True):
    c = {"name": name, "image": image}
    if command:
        c["command"] = command
    if args:
        c["args"] = args
    if ports:
        c["ports"] = [{"name": n, "containerPort": p, "protocol": "TCP"} if n else
                      {"containerPort": p, "protocol": "TCP"} for n, p in ports]
    if env_from:
        c["envFrom"] = env_from
    if env:
        c["env"] = env
    c["resources"] = resources if resources is not None else {
        "limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    if mounts:
        c["volumeMounts"] = mounts
    if liveness:
        c["livenessProbe"] = liveness
    if readiness:
        c["readinessProbe"] = readiness
    if startup:
        c["startupProbe"] = startup
    c["terminationMessagePath"] = "/dev/termination-log"
    c["terminationMessagePolicy"] = "File"
    c["imagePullPolicy"] = "IfNotPresent"
    if secure:
        c["securityContext"] = {"capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                                "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
    return c


def env(name, value):
    return {"name": name, "value": value}


def env_cm(name, cm, key, optional=None):
    ref = {"name": cm, "key": key}
    if optional is not None:
        ref["optional"] = optional
    return {"name": name, "valueFrom": {"configMapKeyRef": ref}}


def env_secret(name, secret, key, optional=None):
    ref = {"name": secret, "key": key}
    if optional is not None:
        ref["optional"] = optional
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def template(labels, containers, volumes=None, sa=None, node_selector=None, tolerations=None,
             init=None, restart="Always", grace=30, affinity=None, annotations=None):
    spec = {}
    if volumes:
        spec["volumes"] = volumes
    if init:
        spec["initContainers"] = init
    spec["containers"] = containers
    spec["restartPolicy"] = restart
    spec["terminationGracePeriodSeconds"] = grace
    spec["dnsPolicy"] = "ClusterFirst"
    if node_selector:
        spec["nodeSelector"] = node_selector
    if sa:
        spec["serviceAccountName"] = sa
        spec["serviceAccount"] = sa
    spec["securityContext"] = {}
    if affinity:
        spec["affinity"] = affinity
    spec["schedulerName"] = "default-scheduler"
    if tolerations:
        spec["tolerations"] = tolerations
    meta = {"creationTimestamp": None, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": spec}


# ---------------------------------------------------------------- statuses

def running(started, ready=True, restarts=0, last=None):
    return {"state": {"running": {"startedAt": started}}, "lastState": last or {},
            "ready": ready, "restartCount": restarts, "started": True}


def waiting(reason, message=None, restarts=0, last=None):
    w = {"reason": reason}
    if message:
        w["message"] = message
    return {"state": {"waiting": w}, "lastState": last or {}, "ready": False,
            "restartCount": restarts, "started": False}


def terminated(reason, code, started, finished, restarts=0):
    return {"state": {"terminated": {"exitCode": code, "reason": reason, "startedAt": started,
                                     "finishedAt": finished, "containerID": "containerd://" + hexh(started + reason)}},
            "lastState": {}, "ready": False, "restartCount": restarts, "started": False}


def last_terminated(reason, code, started, finished):
    return {"terminated": {"exitCode": code, "reason": reason, "startedAt": started,
                           "finishedAt": finished, "containerID": "containerd://" + hexh(started + finished)}}


def crashloop(name, restarts, reason="Error", code=1, started=None, finished=None):
    started = started or ts(2.2)
    finished = finished or ts(2.1)
    return waiting("CrashLoopBackOff",
                   f"back-off 5m0s restarting failed container={name} pod={{pod}}",
                   restarts, last_terminated(reason, code, started, finished))


# ---------------------------------------------------------------- scenario

class Flow(dict):
    """A dict written in YAML flow style: {kind: Deployment, name: x}."""


class FlowList(list):
    pass


def _flow_dict(dumper, data):
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _flow_list(dumper, data):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _str(dumper, data):
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


class Dumper(yaml.SafeDumper):
    pass


Dumper.add_representer(Flow, _flow_dict)
Dumper.add_representer(FlowList, _flow_list)
Dumper.add_representer(str, _str)


def dump(obj):
    return yaml.dump(obj, Dumper=Dumper, sort_keys=False, width=200, allow_unicode=True)


def dump_all(objs):
    return yaml.dump_all(objs, Dumper=Dumper, sort_keys=False, width=200, explicit_start=True)


CLUSTER_KINDS = {"Node", "Namespace", "StorageClass", "IngressClass", "PersistentVolume",
                 "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "GatewayClass",
                 "PriorityClass", "ClusterRole", "ClusterRoleBinding"}


class Scenario:
    def __init__(self, dirname, ns, description):
        self.dirname = dirname
        self.ns = ns
        self.description = description
        self.objects = []      # everything but pods and events
        self.pods = []
        self.events = []
        self.logs = {}         # (ns, pod) -> [(container, previous, text)]
        self.expect = {"description": description}
        self.namespaces = {ns}
        self.node_names = []

    # ---- generic
    def meta(self, kind, name, ns=None, created=None, labels=None, annotations=None, owner=None,
             generation=None):
        ns = ns if ns is not None else (None if kind in CLUSTER_KINDS else self.ns)
        m = {"name": name}
        if ns:
            m["namespace"] = ns
        m["uid"] = uid(kind, ns or "", name)
        m["resourceVersion"] = rv(kind, ns or "", name)
        if generation is not None:
            m["generation"] = generation
        m["creationTimestamp"] = created or ts(days=9)
        if labels:
            m["labels"] = dict(labels)
        if annotations:
            m["annotations"] = dict(annotations)
        if owner:
            m["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                     "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                     "controller": True, "blockOwnerDeletion": True}]
        if ns:
            self.namespaces.add(ns)
        return m

    def add(self, obj):
        self.objects.append(obj)
        return obj

    def find(self, kind, name, ns=None):
        ns = ns or self.ns
        for o in self.objects + self.pods:
            if o["kind"] == kind and o["metadata"]["name"] == name and \
                    o["metadata"].get("namespace", ns) == ns:
                return o
        return None

    # ---- cluster
    def node(self, name, cpu="4", memory="16Gi", labels=None, taints=None, ready=True,
             conditions=None, unschedulable=False, role="worker", created=None):
        lab = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
               "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
        if role == "control-plane":
            lab["node-role.kubernetes.io/control-plane"] = ""
        lab.update(labels or {})
        n = {"apiVersion": "v1", "kind": "Node",
             "metadata": self.meta("Node", name, created=created or ts(days=41), labels=lab,
                                   annotations={"node.alpha.kubernetes.io/ttl": "0",
                                                "volumes.kubernetes.io/controller-managed-attach-detach": "true"}),
             "spec": {"podCIDR": ip("10.244", name).rsplit(".", 1)[0] + ".0/24",
                      "providerID": "kind://docker/stg/" + name}}
        n["spec"]["podCIDRs"] = [n["spec"]["podCIDR"]]
        if unschedulable:
            n["spec"]["unschedulable"] = True
        if taints:
            n["spec"]["taints"] = taints
        hb = ts(0.3)
        conds = conditions or [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True" if ready else "False", "KubeletReady" if ready else "KubeletNotReady",
             "kubelet is posting ready status" if ready else "container runtime network not ready"),
        ]
        addr = ip("10.20", "node", name)
        alloc_mem = memory
        n["status"] = {
            "capacity": {"cpu": cpu, "ephemeral-storage": "102626232Ki", "hugepages-1Gi": "0",
                         "hugepages-2Mi": "0", "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "ephemeral-storage": "94580335255", "hugepages-1Gi": "0",
                            "hugepages-2Mi": "0", "memory": alloc_mem, "pods": "110"},
            "conditions": [{"type": t, "status": s, "lastHeartbeatTime": c[4] if len(c) > 4 else hb,
                            "lastTransitionTime": c[5] if len(c) > 5 else ts(days=41), "reason": r, "message": m}
                           for c in conds for (t, s, r, m) in [c[:4]]],
            "addresses": [{"type": "InternalIP", "address": addr}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": hexh("m" + name, 32), "systemUUID": uid("sys", name),
                         "bootID": uid("boot", name), "kernelVersion": "6.8.0-49-generic",
                         "osImage": "Ubuntu 24.04.1 LTS", "containerRuntimeVersion": "containerd://2.1.4",
                         "kubeletVersion": "v1.35.0", "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": "amd64"},
        }
        self.add(n)
        self.node_names.append(name)
        return n

    def default_nodes(self, n=3, **kw):
        return [self.node(f"worker-{i}", **kw) for i in range(1, n + 1)]

    def storageclass(self, name="standard", default=True, provisioner="driver.longhorn.io", binding="Immediate"):
        ann = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
        return self.add({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                         "metadata": self.meta("StorageClass", name, annotations=ann, created=ts(days=41)),
                         "provisioner": provisioner, "parameters": {"numberOfReplicas": "2"},
                         "reclaimPolicy": "Delete", "allowVolumeExpansion": True,
                         "volumeBindingMode": binding})

    def ingressclass(self, name="nginx", default=False):
        ann = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else None
        return self.add({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                         "metadata": self.meta("IngressClass", name, annotations=ann, created=ts(days=41),
                                               labels={"app.kubernetes.io/component": "controller",
                                                       "app.kubernetes.io/name": "ingress-nginx"}),
                         "spec": {"controller": "k8s.io/ingress-nginx"}})

    # ---- namespace basics
    def basics(self, ns=None):
        ns = ns or self.ns
        self.add({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": self.meta("ConfigMap", "kube-root-ca.crt", ns=ns, created=ts(days=30),
                                        annotations={"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}),
                  "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIDBTCCAe2gAwIBAgIIYXZmb3JkZXIwDQYJKoZIhvcNAQELBQAwFTETMBEGA1UE\n-----END CERTIFICATE-----\n"}})
        self.add({"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": self.meta("ServiceAccount", "default", ns=ns, created=ts(days=30))})

    def configmap(self, name, data, created=None, labels=None, ns=None):
        return self.add({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": self.meta("ConfigMap", name, ns=ns, created=created or ts(days=9), labels=labels),
                         "data": data})

    def secret(self, name, keys, type_="Opaque", created=None, ns=None):
        return self.add({"apiVersion": "v1", "kind": "Secret",
                         "metadata": self.meta("Secret", name, ns=ns, created=created or ts(days=9)),
                         "data": {k: b64(v) for k, v in keys.items()}, "type": type_})

    def serviceaccount(self, name, ns=None):
        return self.add({"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": self.meta("ServiceAccount", name, ns=ns, created=ts(days=9))})

    # ---- events
    def event(self, kind, name, reason, message, type_="Normal", count=1, first=None, last=None,
              component=None, host=None, field=None, api=None, ns=None):
        ns = ns or self.ns
        obj = self.find(kind, name, ns)
        api = api or (obj["apiVersion"] if obj else "v1")
        first = first or ts(28)
        last = last or first
        inv = {"kind": kind, "namespace": ns, "name": name,
               "uid": obj["metadata"]["uid"] if obj else uid(kind, ns, name), "apiVersion": api,
               "resourceVersion": obj["metadata"]["resourceVersion"] if obj else rv(kind, name)}
        if kind in CLUSTER_KINDS:
            inv.pop("namespace")
        if field:
            inv["fieldPath"] = field
        suffix = hexh(f"{kind}/{name}/{reason}/{message}", 16)
        src = {"component": component} if component else {}
        if host:
            src["host"] = host
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": f"{name}.{suffix}", "namespace": ns if kind not in CLUSTER_KINDS else "default",
                           "uid": uid("ev", ns, name, suffix), "resourceVersion": rv("ev", suffix),
                           "creationTimestamp": first},
              "involvedObject": inv, "reason": reason, "message": message, "source": src,
              "firstTimestamp": first, "lastTimestamp": last, "count": count, "type": type_,
              "eventTime": None, "reportingComponent": component or "", "reportingInstance": host or ""}
        if kind in CLUSTER_KINDS:
            self.namespaces.add("default")
        self.events.append(ev)
        return ev

    def scheduler_event(self, pod, message, when=None, count=1, last=None):
        """A FailedScheduling / Scheduled event in the scheduler's events.k8s.io shape."""
        obj = self.find("Pod", pod)
        when = when or ts(28)
        reason = "Scheduled" if message.startswith("Successfully") else "FailedScheduling"
        suffix = hexh(f"sched/{pod}/{message}", 16)
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": f"{pod}.{suffix}", "namespace": self.ns, "uid": uid("ev", pod, suffix),
                           "resourceVersion": rv("ev", suffix), "creationTimestamp": when},
              "involvedObject": {"kind": "Pod", "namespace": self.ns, "name": pod,
                                 "uid": obj["metadata"]["uid"] if obj else uid("Pod", self.ns, pod),
                                 "apiVersion": "v1", "resourceVersion": obj["metadata"]["resourceVersion"] if obj else "1"},
              "reason": reason, "message": message, "source": {}, "firstTimestamp": None, "lastTimestamp": None,
              "type": "Normal" if reason == "Scheduled" else "Warning",
              "eventTime": when.replace("Z", ".412876Z")}
        if count > 1:
            ev["series"] = {"count": count, "lastObservedTime": (last or ts(1)).replace("Z", ".118203Z")}
        ev.update({"action": "Scheduling", "reportingComponent": "default-scheduler",
                   "reportingInstance": "default-scheduler-cp-1"})
        self.events.append(ev)
        return ev

    def log(self, pod, container, text, previous=False, ns=None):
        self.logs.setdefault((ns or self.ns, pod), []).append((container, previous, text))

    # ---- workloads
    def deployment(self, name, tpl, replicas=2, revision=1, created=None, labels=None, strategy=None,
                   selector=None):
        labels = labels or {"app": name}
        d = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": self.meta("Deployment", name, created=created or ts(days=9), labels=labels,
                                   generation=revision,
                                   annotations={"deployment.kubernetes.io/revision": str(revision)}),
             "spec": {"replicas": replicas,
                      "selector": {"matchLabels": selector or {"app": name}},
                      "template": copy.deepcopy(tpl),
                      "strategy": strategy or {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                      "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
             "status": {}}
        last_applied = {"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"labels": labels, "name": name, "namespace": self.ns},
                        "spec": {"replicas": replicas, "selector": d["spec"]["selector"],
                                 "template": {"metadata": {"labels": tpl["metadata"]["labels"]},
                                              "spec": {"containers": [
                                                  {k: v for k, v in c.items() if k not in (
                                                      "terminationMessagePath", "terminationMessagePolicy",
                                                      "imagePullPolicy")}
                                                  for c in tpl["spec"]["containers"]]}}}}
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = \
            json.dumps(last_applied, separators=(",", ":"), sort_keys=True) + "\n"
        self.add(d)
        d["_rs"] = []
        return d

    def replicaset(self, d, tpl, replicas, revision, created):
        name = d["metadata"]["name"]
        hsh = h(json.dumps(tpl, sort_keys=True) + name)
        labels = dict(tpl["metadata"]["labels"])
        labels["pod-template-hash"] = hsh
        t = copy.deepcopy(tpl)
        t["metadata"]["labels"] = labels
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": self.meta("ReplicaSet", f"{name}-{hsh}", created=created, labels=labels,
                                    generation=1 if replicas else 2,
                                    annotations={"deployment.kubernetes.io/desired-replicas": str(d["spec"]["replicas"]),
                                                 "deployment.kubernetes.io/max-replicas": str(d["spec"]["replicas"] + 1),
                                                 "deployment.kubernetes.io/revision": str(revision)},
                                    owner=d),
              "spec": {"replicas": replicas,
                       "selector": {"matchLabels": dict(d["spec"]["selector"]["matchLabels"], **{"pod-template-hash": hsh})},
                       "template": t},
              "status": {}}
        self.add(rs)
        d["_rs"].append(rs)
        rs["_pods"] = []
        return rs

    def pod(self, owner, tpl=None, name=None, node=None, statuses=None, phase=None, created=None,
            scheduled=True, init_statuses=None, labels=None, conditions=None, pod_ip=None, extra_status=None):
        """A pod of `owner` (a ReplicaSet/DaemonSet/Job/StatefulSet dict, or None for a bare pod)."""
        tpl = tpl or owner["spec"]["template"]
        if name is None:
            name = f"{owner['metadata']['name']}-{h(owner['metadata']['name'] + str(len(owner.get('_pods', []))) + str(node), 5)}"
        created = created or owner["metadata"]["creationTimestamp"]
        spec = copy.deepcopy(tpl["spec"])
        vol = f"kube-api-access-{h(name, 5)}"
        spec.setdefault("volumes", []).append({"name": vol, "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}],
            "defaultMode": 420}})
        for c in spec.get("initContainers", []) + spec["containers"]:
            c.setdefault("volumeMounts", []).append({"name": vol, "readOnly": True,
                                                     "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
        sa = spec.get("serviceAccountName", "default")
        spec["serviceAccountName"] = sa
        spec["serviceAccount"] = sa
        if node and scheduled:
            spec["nodeName"] = node
        tol = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key for t in tol):
                tol.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        spec.update({"priority": 0, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority"})
        spec = {k: spec[k] for k in sorted(spec, key=lambda k: POD_SPEC_ORDER.index(k) if k in POD_SPEC_ORDER else 99)}
        plabels = dict(labels or tpl["metadata"]["labels"])
        p = {"apiVersion": "v1", "kind": "Pod",
             "metadata": self.meta("Pod", name, created=created, labels=plabels, owner=owner, generation=1),
             "spec": spec}
        if owner is not None and owner["kind"] in ("ReplicaSet", "DaemonSet", "Job"):
            p["metadata"] = dict({"name": name, "generateName": name.rsplit("-", 1)[0] + "-"}, **{
                k: v for k, v in p["metadata"].items() if k != "name"})
        # status
        statuses = statuses or []
        cstat = []
        for c, st in zip(tpl["spec"]["containers"], statuses):
            st = copy.deepcopy(st)
            if st["state"].get("waiting", {}).get("message"):
                st["state"]["waiting"]["message"] = st["state"]["waiting"]["message"].replace(
                    "{pod}", f"{name}_{self.ns}({p['metadata']['uid']})")
            out = {"name": c["name"], "state": st["state"], "lastState": st["lastState"], "ready": st["ready"],
                   "restartCount": st["restartCount"], "image": c["image"]}
            pulled = "waiting" not in st["state"] or st["state"]["waiting"]["reason"] in ("CrashLoopBackOff", "CreateContainerConfigError")
            if pulled:
                out["imageID"] = c["image"].split(":")[0] + "@sha256:" + hexh(c["image"])
            else:
                out["imageID"] = ""
            if "running" in st["state"] or "terminated" in st["state"]:
                out["containerID"] = "containerd://" + hexh(name + c["name"] + str(st["restartCount"]))
            out["started"] = st["started"]
            if "resources" in c:
                out["resources"] = c["resources"]
            cstat.append(out)
        if phase is None:
            if not scheduled:
                phase = "Pending"
            elif statuses and all("running" in s["state"] for s in statuses) or any(s["restartCount"] for s in statuses):
                phase = "Running"
            else:
                phase = "Pending"
        ready = bool(statuses) and all(s["ready"] for s in statuses)
        start = created
        status = {"observedGeneration": 1, "phase": phase}
        if conditions is not None:
            status["conditions"] = conditions
        elif not scheduled:
            status["conditions"] = [{"type": "PodScheduled", "observedGeneration": 1, "status": "False",
                                     "lastProbeTime": None, "lastTransitionTime": created,
                                     "reason": "Unschedulable", "message": "(see events)"}]
        else:
            started_any = any("running" in s["state"] or s["restartCount"] for s in statuses)
            notready = [c["name"] for c, s in zip(tpl["spec"]["containers"], statuses) if not s["ready"]]
            msg = f"containers with unready status: [{' '.join(notready)}]"
            cond = lambda t, ok, r=None: dict({"type": t, "observedGeneration": 1, "status": "True" if ok else "False",
                                               "lastProbeTime": None, "lastTransitionTime": created},
                                              **({"reason": r, "message": msg} if not ok and r else {}))
            status["conditions"] = [cond("PodReadyToStartContainers", started_any or phase == "Running"),
                                    cond("Initialized", True), cond("Ready", ready, "ContainersNotReady"),
                                    cond("ContainersReady", ready, "ContainersNotReady"), cond("PodScheduled", True)]
        if scheduled and node:
            nip = ip("10.20", "node", node)
            status["hostIP"] = nip
            status["hostIPs"] = [{"ip": nip}]
            if phase in ("Running", "Succeeded", "Failed") or any("running" in s["state"] or s["restartCount"] for s in statuses):
                pip = pod_ip or ip("10.244", name)
                status["podIP"] = pip
                status["podIPs"] = [{"ip": pip}]
            status["startTime"] = start
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        if scheduled and cstat:
            status["containerStatuses"] = cstat
        elif not scheduled:
            pass
        res = [c.get("resources", {}) for c in tpl["spec"]["containers"]]
        if all(r.get("requests") and r.get("limits") and r["requests"] == r["limits"] for r in res):
            qos = "Guaranteed"
        elif any(r.get("requests") or r.get("limits") for r in res):
            qos = "Burstable"
        else:
            qos = "BestEffort"
        status["qosClass"] = qos
        if extra_status:
            status.update(extra_status)
        p["status"] = status
        self.pods.append(p)
        if owner is not None and "_pods" in owner:
            owner["_pods"].append(p)
        return p

    def finish_rs(self, rs):
        pods = rs["_pods"]
        ready = sum(1 for p in pods if all(c.get("ready") for c in p["status"].get("containerStatuses", [{}])) and p["status"].get("containerStatuses"))
        st = {"replicas": len(pods)}
        if pods:
            st["fullyLabeledReplicas"] = len(pods)
        if ready:
            st["readyReplicas"] = ready
            st["availableReplicas"] = ready
        st["observedGeneration"] = rs["metadata"]["generation"]
        rs["status"] = dict(st, **rs.get("_extra_status", {}))
        return ready

    def finish_deployment(self, d, progressing=None, available_since=None, replica_failure=None):
        total = ready = updated = 0
        for rs in d["_rs"]:
            r = self.finish_rs(rs)
            total += len(rs["_pods"])
            ready += r
        newest = d["_rs"][-1]
        updated = len(newest["_pods"])
        want = d["spec"]["replicas"]
        st = {"observedGeneration": d["metadata"]["generation"], "replicas": total, "updatedReplicas": updated}
        if ready:
            st["readyReplicas"] = ready
            st["availableReplicas"] = ready
        if want - ready > 0:
            st["unavailableReplicas"] = want - ready
        min_avail = ready >= want - max(0, int(want * 0.25))
        since = available_since or d["metadata"]["creationTimestamp"]
        conds = [{"type": "Available", "status": "True" if min_avail else "False",
                  "lastUpdateTime": since, "lastTransitionTime": since,
                  "reason": "MinimumReplicasAvailable" if min_avail else "MinimumReplicasUnavailable",
                  "message": "Deployment has minimum availability." if min_avail else "Deployment does not have minimum availability."}]
        rsname = newest["metadata"]["name"]
        if progressing == "deadline":
            conds.append({"type": "Progressing", "status": "False", "lastUpdateTime": ts(18), "lastTransitionTime": ts(18),
                          "reason": "ProgressDeadlineExceeded", "message": f'ReplicaSet "{rsname}" has timed out progressing.'})
        elif progressing == "updating":
            conds.append({"type": "Progressing", "status": "True", "lastUpdateTime": ts(3), "lastTransitionTime": ts(28),
                          "reason": "ReplicaSetUpdated", "message": f'ReplicaSet "{rsname}" is progressing.'})
        else:
            t = newest["metadata"]["creationTimestamp"]
            conds.append({"type": "Progressing", "status": "True", "lastUpdateTime": t, "lastTransitionTime": d["metadata"]["creationTimestamp"],
                          "reason": "NewReplicaSetAvailable", "message": f'ReplicaSet "{rsname}" has successfully progressed.'})
        if replica_failure:
            conds.append({"type": "ReplicaFailure", "status": "True", "lastUpdateTime": ts(27), "lastTransitionTime": ts(27),
                          "reason": "FailedCreate", "message": replica_failure})
        d["status"] = st
        d["status"]["conditions"] = conds
        if not ready:
            d["status"].pop("readyReplicas", None)

    def rollout_events(self, d, rs, pods, image, when=28, host_of=None, pulled=True, started=True, scale_from=0):
        name = d["metadata"]["name"]
        want = rs["spec"]["replicas"]
        self.event("Deployment", name, "ScalingReplicaSet",
                   f"Scaled up replica set {rs['metadata']['name']} from {scale_from} to {want}",
                   first=ts(when), component="deployment-controller")
        for i, p in enumerate(pods):
            pn = p["metadata"]["name"]
            node = p["spec"].get("nodeName")
            self.event("ReplicaSet", rs["metadata"]["name"], "SuccessfulCreate", f"Created pod: {pn}",
                       first=ts(when), component="replicaset-controller")
            if node:
                self.scheduler_event(pn, f"Successfully assigned {self.ns}/{pn} to {node}", when=ts(when))
            if pulled and node:
                self.pod_start_events(p, image, when - 0.1, started=started)

    def pod_start_events(self, p, image, when, started=True, container=None, count=1, last=None):
        pn = p["metadata"]["name"]
        node = p["spec"]["nodeName"]
        c = container or p["spec"]["containers"][0]["name"]
        f = f"spec.containers{{{c}}}"
        self.event("Pod", pn, "Pulling", f'Pulling image "{image}"', first=ts(when), component="kubelet", host=node, field=f)
        self.event("Pod", pn, "Pulled", f'Successfully pulled image "{image}" in 2.113s (2.113s including waiting). Image size: 48213773 bytes.',
                   first=ts(when - 0.05), component="kubelet", host=node, field=f)
        if started:
            self.event("Pod", pn, "Created", f"Created container: {c}", first=ts(when - 0.06), last=last,
                       count=count, component="kubelet", host=node, field=f)
            self.event("Pod", pn, "Started", f"Started container {c}", first=ts(when - 0.07), last=last,
                       count=count, component="kubelet", host=node, field=f)

    # ---- services
    def service(self, name, selector, ports, type_="ClusterIP", headless=False, labels=None, created=None):
        cip = "None" if headless else svc_ip(self.ns, name)
        spec = {"ports": [dict({"name": n} if n else {}, protocol="TCP", port=p, targetPort=tp)
                          for n, p, tp in ports]}
        if selector is not None:
            spec["selector"] = selector
        spec.update({"clusterIP": cip, "clusterIPs": [cip], "type": type_, "sessionAffinity": "None",
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"})
        if headless:
            spec["publishNotReadyAddresses"] = False
        return self.add({"apiVersion": "v1", "kind": "Service",
                         "metadata": self.meta("Service", name, created=created or ts(days=9),
                                               labels=labels or {"app": name}),
                         "spec": spec, "status": {"loadBalancer": {}}})

    def endpoints(self, svc, pods=(), not_ready=(), port_override=None):
        """Endpoints and EndpointSlice of a Service for `pods` (ready) and `not_ready`."""
        name = svc["metadata"]["name"]

        def port_of(sp, p):
            tp = port_override or sp["targetPort"]
            if isinstance(tp, str):
                for c in p["spec"]["containers"]:
                    for cp in c.get("ports", []):
                        if cp.get("name") == tp:
                            return cp["containerPort"]
                return None
            return tp

        pods = list(pods)
        not_ready = list(not_ready)
        all_pods = pods + not_ready
        ports = []
        for sp in svc["spec"]["ports"]:
            pp = port_of(sp, all_pods[0]) if all_pods else None
            if pp:
                ports.append(dict({"name": sp["name"]} if "name" in sp else {}, port=pp, protocol="TCP"))

        def addr(p):
            return {"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                    "targetRef": {"kind": "Pod", "namespace": self.ns, "name": p["metadata"]["name"],
                                  "uid": p["metadata"]["uid"]}}
        ep = {"apiVersion": "v1", "kind": "Endpoints",
              "metadata": self.meta("Endpoints", name, created=svc["metadata"]["creationTimestamp"],
                                    labels=dict(svc["metadata"].get("labels", {}),
                                                **{"endpoints.kubernetes.io/managed-by": "endpoint-controller"}),
                                    annotations={"endpoints.kubernetes.io/last-change-trigger-time": ts(27)})}
        if all_pods and ports:
            sub = {}
            if pods:
                sub["addresses"] = [addr(p) for p in pods]
            if not_ready:
                sub["notReadyAddresses"] = [addr(p) for p in not_ready]
            sub["ports"] = ports
            ep["subsets"] = [sub]
        self.add(ep)
        sl = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": self.meta("EndpointSlice", f"{name}-{h(name, 5)}", created=svc["metadata"]["creationTimestamp"],
                                    labels=dict(svc["metadata"].get("labels", {}),
                                                **{"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                                   "kubernetes.io/service-name": name}),
                                    annotations={"endpoints.kubernetes.io/last-change-trigger-time": ts(27)}),
              "addressType": "IPv4"}
        sl["metadata"]["generateName"] = name + "-"
        sl["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Service", "name": name,
                                              "uid": svc["metadata"]["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]
        if all_pods:
            sl["endpoints"] = [{"addresses": [p["status"]["podIP"]],
                                "conditions": {"ready": p in pods, "serving": p in pods, "terminating": False},
                                "targetRef": {"kind": "Pod", "namespace": self.ns, "name": p["metadata"]["name"],
                                              "uid": p["metadata"]["uid"]},
                                "nodeName": p["spec"]["nodeName"]} for p in all_pods]
        else:
            sl["endpoints"] = None
        sl["ports"] = ports if ports else None
        self.add(sl)
        return ep

    # ---- output
    def write(self, root):
        out = os.path.join(root, self.dirname)
        if os.path.exists(out):
            shutil.rmtree(out)
        snap = os.path.join(out, "snapshot")
        os.makedirs(snap)

        def clean(o):
            return {k: v for k, v in o.items() if not k.startswith("_")}
        cluster = [clean(o) for o in self.objects if o["kind"] in CLUSTER_KINDS]
        for ns in sorted(self.namespaces):
            cluster.insert(0, {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": ns, "uid": uid("ns", ns), "resourceVersion": rv("ns", ns),
                                            "creationTimestamp": ts(days=30),
                                            "labels": {"kubernetes.io/metadata.name": ns}},
                               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        cluster.sort(key=lambda o: (CLUSTER_ORDER.index(o["kind"]) if o["kind"] in CLUSTER_ORDER else 99))
        with open(os.path.join(snap, "cluster.yaml"), "w") as f:
            f.write(dump({"apiVersion": "v1", "items": cluster, "kind": "List",
                          "metadata": {"resourceVersion": ""}}))
        for ns in sorted(self.namespaces):
            nsobjs = [clean(o) for o in self.objects
                      if o["kind"] not in CLUSTER_KINDS and o["metadata"].get("namespace") == ns]
            pods = [clean(p) for p in self.pods if p["metadata"]["namespace"] == ns]
            events = [e for e in self.events if e["metadata"]["namespace"] == ns]
            if not (nsobjs or pods or events):
                continue
            d = os.path.join(snap, ns)
            os.makedirs(d, exist_ok=True)
            workloads = [o for o in nsobjs if o["kind"] in WORKLOAD_KINDS]
            other = [o for o in nsobjs if o["kind"] not in WORKLOAD_KINDS]
            workloads.sort(key=lambda o: WORKLOAD_KINDS.index(o["kind"]))
            other.sort(key=lambda o: OTHER_ORDER.index(o["kind"]) if o["kind"] in OTHER_ORDER else 99)
            if workloads:
                # `kubectl get deploy,rs,... -o yaml` output, one document per object
                with open(os.path.join(d, "workloads.yaml"), "w") as f:
                    f.write(dump_all(workloads))
            if other:
                with open(os.path.join(d, "extra.yaml"), "w") as f:
                    f.write(dump({"apiVersion": "v1", "items": other, "kind": "List",
                                  "metadata": {"resourceVersion": ""}}))
            if pods:
                items = [{k: v for k, v in p.items() if k not in ("apiVersion", "kind")} for p in pods]
                with open(os.path.join(d, "pods.json"), "w") as f:
                    json.dump({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv("pods", ns)},
                               "items": items}, f, indent=4)
                    f.write("\n")
            if events:
                events.sort(key=lambda e: e["lastTimestamp"] or e.get("eventTime") or "")
                items = [{k: v for k, v in e.items() if k not in ("apiVersion", "kind")} for e in events]
                with open(os.path.join(d, "events.json"), "w") as f:
                    json.dump({"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": rv("events", ns)},
                               "items": items}, f, indent=4)
                    f.write("\n")
        # What `kubectl cluster-info dump` writes for pods whose logs were not set.
        for p in self.pods:
            key = (p["metadata"]["namespace"], p["metadata"]["name"])
            have = {(c, prev) for c, prev, _ in self.logs.get(key, [])}
            statuses = {c["name"]: c for c in p["status"].get("containerStatuses", [])}
            for c in p["spec"]["containers"]:
                if (c["name"], False) in have:
                    continue
                st = statuses.get(c["name"])
                if st is None:
                    body = ""
                elif "waiting" in st["state"]:
                    why = {"ImagePullBackOff": "trying and failing to pull image",
                           "ErrImagePull": "trying and failing to pull image"}.get(
                        st["state"]["waiting"]["reason"], st["state"]["waiting"]["reason"])
                    body = f'Request log error: container "{c["name"]}" in pod "{key[1]}" is waiting to start: {why}'
                else:
                    port = (c.get("ports") or [{"containerPort": 8080}])[0]["containerPort"]
                    body = f'{{"level":"info","msg":"{c["name"]} started","addr":":{port}"}}\n'
                self.log(key[1], c["name"], body, ns=key[0])
        for (ns, pod), blocks in self.logs.items():
            d = os.path.join(snap, ns, pod)
            os.makedirs(d, exist_ok=True)
            text = ""
            for c, prev, body in sorted(blocks, key=lambda b: b[1]):
                kind = "previous logs" if prev else "logs"
                body = body.rstrip("\n") + "\n" if body.strip() else ""
                text += f"==== START {kind} for container {c} of pod {ns}/{pod} ====\n{body}==== END {kind} for container {c} of pod {ns}/{pod} ====\n"
            with open(os.path.join(d, "logs.txt"), "w") as f:
                f.write(text)
        with open(os.path.join(out, "expected.yaml"), "w") as f:
            f.write(dump(self.expect))


POD_SPEC_ORDER = ["volumes", "initContainers", "containers", "restartPolicy", "terminationGracePeriodSeconds",
                  "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
                  "nodeName", "hostNetwork", "securityContext", "imagePullSecrets", "affinity", "schedulerName",
                  "tolerations", "priority", "enableServiceLinks", "preemptionPolicy"]
CLUSTER_ORDER = ["Namespace", "Node", "StorageClass", "PersistentVolume", "IngressClass", "GatewayClass",
                 "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]
WORKLOAD_KINDS = ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"]
OTHER_ORDER = ["ServiceAccount", "ConfigMap", "Secret", "Service", "Endpoints", "EndpointSlice",
               "PersistentVolumeClaim", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget",
               "NetworkPolicy", "ResourceQuota", "LimitRange", "Gateway", "HTTPRoute"]


def obj(kind, name, ns=None):
    o = Flow(kind=kind, name=name)
    if ns:
        o["namespace"] = ns
    return o


def op(o, path, value=None, has_value=True):
    d = Flow(op=o, path=path)
    if value is not None or (o in ("test", "replace", "add") and has_value and value is not None):
        d["value"] = value
    return d
