#!/usr/bin/env python3
"""Writes the clusters of the question corpus: `python3 tests/questions/_gen/clusters.py`
(re)generates `tests/questions/<cluster>/snapshot/`. Each cluster is several scenarios of
`tests/scenarios/` loaded together, each in a namespace of its own and with its objects
renamed where a cluster needs the name, so a question must be resolved across namespaces.
The questions (`questions.yaml`) are written by hand beside the snapshot."""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(os.path.dirname(ROOT), "scenarios", "_gen"))
import k8s  # noqa: E402
import scenarios  # noqa: E402

scenarios.load_more()
BY_NUMBER = {fn.__name__: fn for fn in scenarios.SCENARIOS}

# cluster -> [(scenario function, namespace there, {old name: new name})]
CLUSTERS = {
    "acme": [
        ("s02", "notifications", {"ingest-worker": "notifier"}),
        ("s05", "payments", {"payments": "payments-api"}),
        ("s15", "ml", {"trainer": "ml-trainer"}),
        ("s01", "shop", {}),
        ("s03", "orders", {}),
        ("s10", "search", {}),
        ("s12", "finance", {}),
        ("s19", "warehouse", {}),
        ("s34", "web", {}),
        ("s35", "db", {}),
        ("s36", "batch", {}),
    ],
    "retail": [
        ("s04", "web", {}),
        ("s11", "shop", {}),
        ("s13", "shop", {}),
        ("s18", "shop", {}),
        ("s08", "edge", {}),
        ("s23", "edge", {}),
        ("s06", "notify", {}),
        ("s22", "notify", {}),
        ("s21", "api", {}),
        ("s26", "streaming", {}),
        ("s25", "reports", {}),
        ("s20", "marketing", {}),
        ("s38", "cart", {}),
    ],
    "platform": [
        ("s07", "analytics", {}),
        ("s09", "telemetry", {}),
        ("s14", "orders", {}),
        ("s17", "orders", {}),
        ("s24", "platform", {}),
        ("s27", "logging", {}),
        ("s30", "payments", {}),
        ("s31", "shop", {}),
        ("s32", "batch-api", {}),
        ("s34", "web", {}),
        ("s35", "db", {}),
        ("s36", "batch", {}),
    ],
}


def build(fn_name, namespace):
    """The scenario built with `namespace` for its own namespace."""
    real_init = k8s.Scenario.__init__

    def init(self, dirname, ns, description):
        real_init(self, dirname, namespace, description)
        self.source_ns = ns
    k8s.Scenario.__init__ = init
    try:
        return BY_NUMBER[fn_name]()
    finally:
        k8s.Scenario.__init__ = real_init


def renamer(old_ns, new_ns, names):
    """A function that rewrites one string: `<name>` to its new name (as a
    whole name, not inside another word) and `.<old ns>.svc` to the new
    namespace's DNS names."""
    pats = [(re.compile(r"(?<![A-Za-z0-9])" + re.escape(o) + r"(?![A-Za-z0-9/])"), n)
            for o, n in sorted(names.items(), key=lambda kv: -len(kv[0]))]

    def fix(s):
        if old_ns != new_ns:
            s = s.replace(f".{old_ns}.svc", f".{new_ns}.svc")
            # `Secret shop/payments-db` in a kubelet message; not `…/shop/…` of an image.
            s = re.sub(r"(?<=[\s\"'(])" + re.escape(old_ns) + r"/(?=[a-z])", new_ns + "/", s)
        for p, n in pats:
            s = p.sub(n, s)
        return s
    return fix


def walk(o, fix, key=None):
    if isinstance(o, dict):
        return type(o)((k, o[k] if k == "namespace" else walk(v, fix, k)) for k, v in o.items())
    if isinstance(o, list):
        return type(o)(walk(v, fix) for v in o)
    if isinstance(o, str):
        return fix(o)
    return o


def merge(name, parts):
    out = k8s.Scenario(name, "default", f"question corpus cluster {name}")
    out.namespaces = set()
    seen = set()
    for fn_name, ns, names in parts:
        s = build(fn_name, ns)
        fix = renamer(s.source_ns, ns, names)
        for o in walk(s.objects, fix):
            md = o["metadata"]
            key = (o["kind"], md.get("namespace"), md["name"])
            if key in seen:
                continue
            seen.add(key)
            out.objects.append(o)
        out.pods.extend(walk(s.pods, fix))
        out.events.extend(walk(s.events, fix))
        for (pns, pod), blocks in s.logs.items():
            out.logs.setdefault((pns, fix(pod)), []).extend(
                (c, prev, fix(text)) for c, prev, text in blocks)
        out.namespaces |= s.namespaces
    out.dirname = name
    return out


def main():
    for name, parts in CLUSTERS.items():
        s = merge(name, parts)
        keep = os.path.join(ROOT, name, "questions.yaml")
        saved = open(keep).read() if os.path.exists(keep) else None
        s.write(ROOT)
        os.remove(os.path.join(ROOT, name, "expected.yaml"))
        if saved is not None:
            with open(keep, "w") as f:
                f.write(saved)
        print("wrote", name, "namespaces:", " ".join(sorted(s.namespaces)))


if __name__ == "__main__":
    main()
