# GitOps: workloads Argo CD manages, and the Applications' own failures:
# scenario 81. Runs in scenarios.py's namespace (`@scenario`, `F`, `T`, `A`,
# `NOT`, `app`, `cluster`, `crash_events`… are there).

ARGOCD_NS = "argocd"
TRACKING = "argocd.argoproj.io/tracking-id"
DEPLOY_REPO = "https://git.example.com/platform/deploy.git"
IN_CLUSTER = "https://kubernetes.default.svc"


def track(app_name, o):
    """Argo CD's annotation tracking on `o`, as Argo CD writes it when it
    applies the object."""
    m = o["metadata"]
    group = o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else ""
    m.setdefault("annotations", {})[TRACKING] = \
        f"{app_name}:{group}/{o['kind']}:{m.get('namespace', '')}/{m['name']}"


def application(s, name, dest_ns, path, automated=None, sync=None, health=None, resources=(),
                conditions=(), operation_state=None, history=(), created_days=60, reconciled=1.5):
    """An Argo CD v3 Application in the Argo CD namespace, its status as the
    application controller writes it."""
    spec = {"project": "default",
            "source": {"repoURL": DEPLOY_REPO, "path": path, "targetRevision": "main"},
            "destination": {"server": IN_CLUSTER, "namespace": dest_ns}}
    if automated is not None:
        spec["syncPolicy"] = {"automated": automated, "syncOptions": ["CreateNamespace=true"]}
    compared = {"source": dict(spec["source"]), "destination": dict(spec["destination"])}
    status = {"sync": dict(sync, comparedTo=compared),
              "health": health,
              "reconciledAt": ts(reconciled),
              "sourceType": "Directory",
              "controllerNamespace": ARGOCD_NS}
    if resources:
        status["resources"] = list(resources)
    if conditions:
        status["conditions"] = list(conditions)
    if operation_state:
        status["operationState"] = operation_state
    if history:
        status["history"] = list(history)
    meta = s.meta("Application", name, ns=ARGOCD_NS, created=ts(days=created_days), generation=40)
    meta["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    return s.add({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
                  "spec": spec, "status": status})


def res(o, health=None, status="Synced"):
    """An entry of an Application's `status.resources`."""
    group, _, version = o["apiVersion"].rpartition("/")
    r = {"version": version, "kind": o["kind"], "namespace": o["metadata"]["namespace"],
         "name": o["metadata"]["name"], "status": status}
    if group:
        r = {"group": group, **r}
    if health:
        r["health"] = health
    return r


@scenario
def s81():
    s = Scenario("81-argocd-selfheal-crashloop", "storefront",
                 "catalog 3.2.0 crash-loops with KeyError: 'SEARCH_URL' (revision 2 dropped the env var); Argo CD Application storefront deploys it with automated selfHeal, so a direct patch would be reverted: the fix belongs in Git. In the argocd namespace, storefront is Degraded and billing cannot be compared (its path is missing from the repository)")
    cluster(s)
    image = "registry.example.com/storefront/catalog:3.2.0"
    cont = container("catalog", image, ports=[("http", 8080)], command=["python", "-m", "catalog.server"],
                     env=[env("CATALOG_DB_HOST", "catalog-db.storefront.svc")])
    prev = container("catalog", "registry.example.com/storefront/catalog:3.1.4", ports=[("http", 8080)],
                     command=["python", "-m", "catalog.server"],
                     env=[env("CATALOG_DB_HOST", "catalog-db.storefront.svc"),
                          env("SEARCH_URL", "http://search.storefront.svc:9200")])
    restarts = 7
    d, rs, pods, _ = app(s, "catalog", [cont], replicas=2,
                         statuses=lambda i: [crashloop("catalog", restarts, started=ts(2.6), finished=ts(2.5))],
                         prev=[prev], rollout=28, progressing="deadline", service=[("http", 80, "http")])
    crash_events(s, pods, image, restarts, since=28)
    for p in pods:
        body = """[2026-11-20 08:57:41 +0000] [1] [INFO] Starting catalog 3.2.0
Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "<frozen runpy>", line 88, in _run_code
  File "/app/catalog/server.py", line 9, in <module>
    from catalog.search import client
  File "/app/catalog/search.py", line 6, in <module>
    SEARCH_URL = os.environ["SEARCH_URL"]
                 ~~~~~~~~~~^^^^^^^^^^^^^^
  File "<frozen os>", line 714, in __getitem__
KeyError: 'SEARCH_URL'
"""
        s.log(p["metadata"]["name"], "catalog", body, previous=True)
    svc = s.find("Service", "catalog")
    # Argo CD applied the Deployment and the Service; the Deployment
    # controller copies the Deployment's annotations to its ReplicaSets.
    for o in [d, svc] + d["_rs"]:
        track("storefront", o)
    for r in d["_rs"]:
        r["metadata"]["annotations"][TRACKING] = d["metadata"]["annotations"][TRACKING]

    rev2, rev1 = hexh("storefront catalog 3.2.0", 40), hexh("storefront catalog 3.1.4", 40)
    started, finished = ts(28.4), ts(28.2)
    application(
        s, "storefront", "storefront", "apps/storefront",
        automated={"prune": True, "selfHeal": True},
        sync={"status": "Synced", "revision": rev2},
        health={"status": "Degraded", "lastTransitionTime": ts(18)},
        resources=[res(svc, {"status": "Healthy"}),
                   res(d, {"status": "Degraded", "message": 'Deployment "catalog" exceeded its progress deadline'})],
        operation_state={
            "operation": {"sync": {"revision": rev2, "prune": True, "syncOptions": ["CreateNamespace=true"]},
                          "initiatedBy": {"automated": True}, "retry": {"limit": 5}},
            "phase": "Succeeded", "message": "successfully synced (all tasks run)",
            "startedAt": started, "finishedAt": finished,
            "syncResult": {"revision": rev2,
                           "source": {"repoURL": DEPLOY_REPO, "path": "apps/storefront", "targetRevision": "main"},
                           "resources": [dict(res(o), status="Synced", message=m, hookPhase="Running", syncPhase="Sync")
                                         for o, m in ((svc, "service/catalog unchanged"),
                                                      (d, "deployment.apps/catalog configured"))]}},
        history=[{"id": 6, "revision": rev1, "deployedAt": ts(days=9), "deployStartedAt": ts(days=9, seconds=20),
                  "source": {"repoURL": DEPLOY_REPO, "path": "apps/storefront", "targetRevision": "main"},
                  "initiatedBy": {"automated": True}},
                 {"id": 7, "revision": rev2, "deployedAt": finished, "deployStartedAt": started,
                  "source": {"repoURL": DEPLOY_REPO, "path": "apps/storefront", "targetRevision": "main"},
                  "initiatedBy": {"automated": True}}])
    message = ("Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: "
               "code = Unknown desc = apps/billing: app path does not exist")
    application(
        s, "billing", "billing", "apps/billing",
        automated={"prune": False, "selfHeal": True},
        sync={"status": "Unknown"},
        health={"status": "Healthy", "lastTransitionTime": ts(days=12)},
        conditions=[{"type": "ComparisonError", "message": message, "lastTransitionTime": ts(41)}])
    monitoring_rev = hexh("monitoring", 40)
    application(
        s, "monitoring", "monitoring", "apps/monitoring",
        automated={"prune": True, "selfHeal": True},
        sync={"status": "Synced", "revision": monitoring_rev},
        health={"status": "Healthy", "lastTransitionTime": ts(days=3)},
        history=[{"id": 12, "revision": monitoring_rev, "deployedAt": ts(days=3), "deployStartedAt": ts(days=3, seconds=15),
                  "source": {"repoURL": DEPLOY_REPO, "path": "apps/monitoring", "targetRevision": "main"},
                  "initiatedBy": {"automated": True}}])

    # Two namespaces: the workload's and Argo CD's.
    s.expect["question"] = "what is wrong in the cluster?"
    s.expect["findings"] = [
        dict(F("CrashLoopBackOff", "Deployment", "catalog", severity="critical",
               root_cause=["SEARCH_URL"], evidence=["KeyError: 'SEARCH_URL'"],
               fix={"target": {"kind": "Deployment", "name": "catalog"},
                    "patch": [T(f"{C0}/name", "catalog"), A(f"{C0}/env/-")],
                    "kubectl": ["SEARCH_URL"],
                    "gitops": FlowList(["Argo CD Application argocd/storefront", "selfHeal", "reverted",
                                        DEPLOY_REPO, "apps/storefront"])}),
             managed_by=Flow(tool="argocd", application="storefront", application_namespace=ARGOCD_NS,
                             tracking="annotation", automated=True, self_heal=True,
                             reverts_direct_patch=True)),
        F("ArgoDegraded", "Application", "storefront",
          evidence=['Deployment "catalog" exceeded its progress deadline']),
        F("ArgoComparisonError", "Application", "billing",
          cause=["app path does not exist"], root_cause=["apps/billing"]),
    ]
    for f in s.expect["findings"][1:]:
        f["object"]["namespace"] = ARGOCD_NS
    s.expect["must_not"] = [NOT("ArgoOutOfSync"), NOT(name="monitoring"), NOT("ArgoSyncFailed")]
    return s
