#!/usr/bin/env python3
"""Writes every scenario of the corpus: `python3 tests/scenarios/_gen/scenarios.py`
(re)generates `tests/scenarios/<NN-name>/{snapshot/,expected.yaml}`.
The expectations here are written from what is broken, not from any output."""

import copy
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from k8s import *  # noqa: E402,F403

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIOS = []
C0 = "/spec/template/spec/containers/0"


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


def F(reason, kind, name, **kw):
    """An expected finding."""
    f = {"reason": reason, "object": obj(kind, name)}
    for k in ("severity", "cause", "root_cause", "evidence"):
        if k in kw:
            f[k] = FlowList(kw[k]) if isinstance(kw[k], list) else kw[k]
    if "fix" in kw:
        fx = dict(kw["fix"])
        if "patch" in fx:
            fx["patch"] = [Flow(p) for p in fx["patch"]]
        if "kubectl" in fx:
            fx["kubectl"] = FlowList(fx["kubectl"])
        if "target" in fx:
            fx["target"] = Flow(fx["target"])
        f["fix"] = fx
    return f


def T(path, value):
    return {"op": "test", "path": path, "value": value}


def R(path, value=None):
    d = {"op": "replace", "path": path}
    if value is not None:
        d["value"] = value
    return d


def A(path, value=None):
    d = {"op": "add", "path": path}
    if value is not None:
        d["value"] = value
    return d


def NOT(reason=None, **o):
    d = {}
    if reason:
        d["reason"] = reason
    if o:
        d["object"] = Flow(o)
    return d


def app(s, name, containers, replicas=2, statuses=None, volumes=None, labels=None, prev=None,
        old_replicas=0, rollout=28, service=None, tpl_kw=None, nodes=None, scheduled=True,
        progressing=None, events=True, created_days=9, replica_failure=None, strategy=None):
    """A Deployment with its ReplicaSet(s) and pods. `prev` is the previous
    revision's containers (its ReplicaSet keeps `old_replicas` pods);
    `statuses(i)` gives pod i's container statuses."""
    labels = labels or {"app": name, "app.kubernetes.io/part-of": s.ns}
    tpl_kw = tpl_kw or {}
    tpl = template(labels, containers, volumes, **tpl_kw)
    nodes = nodes or s.node_names or ["worker-1"]
    revision = 2 if prev else 1
    if prev and old_replicas == 0 and strategy is None and statuses is not None:
        # A RollingUpdate keeps old pods until new ones are available: a
        # rollout that left none of them ran with the Recreate strategy.
        strategy = {"type": "Recreate"}
    d = s.deployment(name, tpl, replicas, revision=revision, created=ts(days=created_days),
                     labels={"app": name, "app.kubernetes.io/part-of": s.ns}, strategy=strategy)
    old_pods = []
    if prev:
        old_tpl = template(labels, prev, volumes, **tpl_kw)
        old_rs = s.replicaset(d, old_tpl, old_replicas, 1, ts(days=created_days))
        for i in range(old_replicas):
            p = s.pod(old_rs, node=nodes[(i + 1) % len(nodes)],
                      statuses=[running(ts(days=created_days, seconds=-9)) for _ in prev])
            old_pods.append(p)
    created = ts(rollout) if prev else ts(days=created_days)
    rs = s.replicaset(d, tpl, replicas, revision, created)
    pods = []
    for i in range(replicas):
        st = statuses(i) if statuses else [running(ts(rollout - 0.2) if prev else ts(days=created_days, seconds=-9))
                                           for _ in containers]
        p = s.pod(rs, node=nodes[i % len(nodes)], statuses=st, created=created, scheduled=scheduled)
        pods.append(p)
    if prev and events:
        if old_replicas == 0 and strategy and strategy["type"] == "Recreate":
            s.event("Deployment", name, "ScalingReplicaSet",
                    f"Scaled down replica set {old_rs['metadata']['name']} from {replicas} to 0",
                    first=ts(rollout + 0.1), component="deployment-controller")
        s.rollout_events(d, rs, pods, containers[0]["image"], when=rollout, pulled=False)
    s.finish_deployment(d, progressing=progressing, replica_failure=replica_failure)
    if service:
        svc = s.service(name, {"app": name}, service)
        ready = [p for p in pods + old_pods if p["status"].get("containerStatuses") and
                 all(c["ready"] for c in p["status"]["containerStatuses"])]
        notready = [p for p in pods + old_pods if p not in ready and p["status"].get("podIP")]
        s.endpoints(svc, ready, notready)
    return d, rs, pods, old_pods


def unschedulable(pod, message):
    pod["status"]["conditions"][0]["message"] = message


def kubelet_events(s, pod, *evs):
    node = pod["spec"].get("nodeName")
    c = pod["spec"]["containers"][0]["name"]
    for reason, msg, type_, count, first, last in evs:
        s.event("Pod", pod["metadata"]["name"], reason, msg, type_=type_, count=count, first=ts(first),
                last=ts(last), component="kubelet", host=node, field=f"spec.containers{{{c}}}")


def crash_events(s, pods, image, restarts, since=28):
    for p in pods:
        c = p["spec"]["containers"][0]["name"]
        kubelet_events(s, p,
                       ("Pulled", f'Container image "{image}" already present on machine', "Normal", restarts + 1, since, 2.3),
                       ("Created", f"Created container: {c}", "Normal", restarts + 1, since, 2.3),
                       ("Started", f"Started container {c}", "Normal", restarts + 1, since, 2.3),
                       ("BackOff", f"Back-off restarting failed container {c} in pod {p['metadata']['name']}_{s.ns}({p['metadata']['uid']})",
                        "Warning", restarts * 6 + 3, since - 0.5, 0.4))


def cluster(s, ingress=False):
    s.default_nodes()
    s.storageclass()
    if ingress:
        s.ingressclass()
    s.basics()


SEC = {"runAsNonRoot": True}

# ============================================================ broken


@scenario
def s01():
    s = Scenario("01-java-npe-optional-configmap-key", "shop",
                 "checkout 5.3.0 crash-loops with a NullPointerException: DATABASE_URL comes from an optional configMapKeyRef to key database.url, but checkout-config renamed it to db.url")
    cluster(s)
    s.configmap("checkout-config", {"db.url": "jdbc:postgresql://pg-checkout.shop.svc:5432/checkout",
                                    "payments.url": "http://payments:8080", "log.level": "INFO"},
                created=ts(29))
    image = "registry.example.com/shop/checkout:5.3.0"
    cont = container("checkout", image, ports=[("http", 8080)],
                     env=[env("JAVA_TOOL_OPTIONS", "-XX:MaxRAMPercentage=75"),
                          env_cm("DATABASE_URL", "checkout-config", "database.url", optional=True),
                          env_cm("PAYMENTS_URL", "checkout-config", "payments.url")],
                     resources={"limits": {"memory": "768Mi"}, "requests": {"cpu": "250m", "memory": "512Mi"}},
                     readiness=http_probe("/actuator/health/readiness", "http", initial=10, period=5),
                     liveness=http_probe("/actuator/health/liveness", "http", initial=30))
    prev = copy.deepcopy(cont)
    prev["image"] = "registry.example.com/shop/checkout:5.2.0"
    restarts = 7

    def st(i):
        return [crashloop("checkout", restarts, started=ts(3.1), finished=ts(3.0))]
    d, rs, pods, old = app(s, "checkout", [cont], replicas=2, statuses=st, prev=[prev], old_replicas=0,
                           rollout=19, service=[("http", 8080, "http")], progressing="deadline")
    crash_events(s, pods, image, restarts, since=18.5)
    for p in pods:
        pn = p["metadata"]["name"]
        body = f"""  .   ____          _            __ _ _
 /\\\\ / ___'_ __ _ _(_)_ __  __ _ \\ \\ \\ \\
( ( )\\___ | '_ | '_| | '_ \\/ _` | \\ \\ \\ \\
 \\\\/  ___)| |_)| | | | | || (_| |  ) ) ) )
  '  |____| .__|_| |_|_| |_\\__, | / / / /
 =========|_|==============|___/=/_/_/_/
 :: Spring Boot ::                (v3.3.4)

2026-11-20T08:57:11.204Z  INFO 1 --- [checkout] [           main] c.e.shop.checkout.CheckoutApplication    : Starting CheckoutApplication v5.3.0 using Java 21.0.5 with PID 1
2026-11-20T08:57:11.209Z  INFO 1 --- [checkout] [           main] c.e.shop.checkout.CheckoutApplication    : No active profile set, falling back to 1 default profile: "default"
2026-11-20T08:57:13.871Z  WARN 1 --- [checkout] [           main] c.e.shop.checkout.config.DataSourceConfig : DATABASE_URL is not set, falling back to spring.datasource.url
2026-11-20T08:57:13.902Z ERROR 1 --- [checkout] [           main] o.s.boot.SpringApplication               : Application run failed

org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource' defined in class path resource [com/example/shop/checkout/config/DataSourceConfig.class]: Failed to instantiate [javax.sql.DataSource]: Factory method 'dataSource' threw exception with message: Cannot invoke "String.length()" because "url" is null
\tat org.springframework.beans.factory.support.ConstructorResolver.instantiate(ConstructorResolver.java:648)
\tat org.springframework.beans.factory.support.ConstructorResolver.instantiateUsingFactoryMethod(ConstructorResolver.java:636)
Caused by: java.lang.NullPointerException: Cannot invoke "String.length()" because "url" is null
\tat com.example.shop.checkout.config.JdbcUrl.parse(JdbcUrl.java:41)
\tat com.example.shop.checkout.config.DataSourceConfig.dataSource(DataSourceConfig.java:28)
\t... 19 common frames omitted
"""
        s.log(pn, "checkout", body, previous=False)
        s.log(pn, "checkout", body.replace("08:57:1", "08:51:4"), previous=True)
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "checkout", severity="critical",
                              root_cause=["checkout-config", "database.url"],
                              evidence=["NullPointerException"],
                              fix={"target": {"kind": "Deployment", "name": "checkout"},
                                   "patch": [T(f"{C0}/name", "checkout"),
                                             T(f"{C0}/env/1/valueFrom/configMapKeyRef/key", "database.url"),
                                             R(f"{C0}/env/1/valueFrom/configMapKeyRef/key", "db.url")],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("CreateContainerConfigError", name="checkout"), NOT("OOMKilled", name="checkout")]
    return s


@scenario
def s02():
    s = Scenario("02-python-keyerror-missing-env", "jobs",
                 "the ingest worker crash-loops with KeyError: 'REDIS_URL': revision 2 dropped the REDIS_URL env var the code reads at import")
    cluster(s)
    image = "registry.example.com/data/ingest-worker:2.0.0"
    cont = container("worker", image, command=["python", "-m", "ingest.worker"],
                     env=[env("QUEUE_NAME", "ingest"), env("REDIS_HOST", "redis.jobs.svc")])
    prev = container("worker", "registry.example.com/data/ingest-worker:1.9.3", command=["python", "-m", "ingest.worker"],
                     env=[env("QUEUE_NAME", "ingest"), env("REDIS_URL", "redis://redis.jobs.svc:6379/0")])
    restarts = 6
    d, rs, pods, _ = app(s, "ingest-worker", [cont], replicas=3,
                         statuses=lambda i: [crashloop("worker", restarts, started=ts(2.6), finished=ts(2.5))],
                         prev=[prev], rollout=14, progressing="updating")
    crash_events(s, pods, image, restarts, since=14)
    for p in pods:
        body = """Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "<frozen runpy>", line 88, in _run_code
  File "/app/ingest/worker.py", line 14, in <module>
    from ingest.settings import settings
  File "/app/ingest/settings.py", line 22, in <module>
    REDIS_URL = os.environ["REDIS_URL"]
                ~~~~~~~~~~^^^^^^^^^^^^^
  File "<frozen os>", line 714, in __getitem__
KeyError: 'REDIS_URL'
"""
        s.log(p["metadata"]["name"], "worker", body)
        s.log(p["metadata"]["name"], "worker", body, previous=True)
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "ingest-worker", severity="critical",
                              root_cause=["REDIS_URL"], evidence=["KeyError: 'REDIS_URL'"],
                              fix={"target": {"kind": "Deployment", "name": "ingest-worker"},
                                   "patch": [T(f"{C0}/name", "worker"), A(f"{C0}/env/-")],
                                   "kubectl": ["REDIS_URL"]})]
    return s


@scenario
def s03():
    s = Scenario("03-go-panic-connection-refused", "orders",
                 "orders-api panics on start with connection refused to Service postgres, which has no endpoints since StatefulSet postgres was scaled to 0")
    cluster(s)
    image = "registry.example.com/orders/orders-api:1.12.3"
    cont = container("orders-api", image, ports=[("http", 8080)],
                     env=[env("DATABASE_HOST", "postgres.orders.svc"), env("DATABASE_PORT", "5432")],
                     readiness=http_probe("/readyz", "http"))
    restarts = 5
    d, rs, pods, _ = app(s, "orders-api", [cont], replicas=2,
                         statuses=lambda i: [crashloop("orders-api", restarts, reason="Error", code=2,
                                                       started=ts(1.9), finished=ts(1.9))],
                         service=[("http", 80, "http")], created_days=9)
    crash_events(s, pods, image, restarts, since=22)
    pg_ip = svc_ip("orders", "postgres")
    for p in pods:
        body = f"""{{"level":"info","ts":"2026-11-20T08:58:19Z","msg":"starting orders-api","version":"1.12.3"}}
{{"level":"info","ts":"2026-11-20T08:58:19Z","msg":"connecting to database","host":"postgres.orders.svc","port":5432}}
panic: failed to connect to `host=postgres.orders.svc user=orders database=orders`: dial error (dial tcp {pg_ip}:5432: connect: connection refused)

goroutine 1 [running]:
main.mustConnect({{0xc00003a0c0, 0x1a}})
\t/src/cmd/orders-api/main.go:58 +0x1c5
main.main()
\t/src/cmd/orders-api/main.go:31 +0x8d
"""
        s.log(p["metadata"]["name"], "orders-api", body)
        s.log(p["metadata"]["name"], "orders-api", body, previous=True)
    sts = s.add({"apiVersion": "apps/v1", "kind": "StatefulSet",
                 "metadata": s.meta("StatefulSet", "postgres", created=ts(days=30), generation=3,
                                    labels={"app": "postgres"}),
                 "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "postgres"}},
                          "template": template({"app": "postgres"}, [container(
                              "postgres", "docker.io/library/postgres:16.4", ports=[("postgres", 5432)],
                              env=[env_secret("POSTGRES_PASSWORD", "postgres-auth", "password")],
                              mounts=[{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
                              readiness=tcp_probe(5432), secure=False)]),
                          "serviceName": "postgres",
                          "podManagementPolicy": "OrderedReady",
                          "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                          "revisionHistoryLimit": 10,
                          "volumeClaimTemplates": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                    "metadata": {"name": "data", "creationTimestamp": None},
                                                    "spec": {"accessModes": ["ReadWriteOnce"],
                                                             "resources": {"requests": {"storage": "20Gi"}},
                                                             "storageClassName": "standard", "volumeMode": "Filesystem"},
                                                    "status": {"phase": "Pending"}}],
                          "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}},
                 "status": {"observedGeneration": 3, "replicas": 0, "currentRevision": "postgres-6b7c9d8f5c",
                            "updateRevision": "postgres-6b7c9d8f5c", "collisionCount": 0, "availableReplicas": 0}})
    s.secret("postgres-auth", {"password": "orders-dev-password"})
    pg = s.service("postgres", {"app": "postgres"}, [("postgres", 5432, 5432)])
    s.endpoints(pg)
    s.event("StatefulSet", "postgres", "SuccessfulDelete", "delete Pod postgres-0 in StatefulSet postgres successful",
            first=ts(23), component="statefulset-controller")
    s.expect["findings"] = [
        F("CrashLoopBackOff", "Deployment", "orders-api", severity="critical",
          root_cause=["postgres"], evidence=["connection refused"]),
        F("ServiceNoEndpoints", "Service", "postgres", cause=["postgres"], root_cause=["StatefulSet"]),
    ]
    s.expect["must_not"] = [NOT("ServiceSelectorMismatch", name="postgres")]
    return s


@scenario
def s04():
    s = Scenario("04-nodejs-crash-missing-module", "web",
                 "storefront 3.0.0 crash-loops: the Node.js image was built without its dependencies (Cannot find module 'express'); 2.9.1 pods still serve")
    cluster(s)
    image = "registry.example.com/web/storefront:3.0.0"
    cont = container("storefront", image, ports=[("http", 3000)], env=[env("NODE_ENV", "production")],
                     readiness=http_probe("/health", "http"))
    prev = copy.deepcopy(cont)
    prev["image"] = "registry.example.com/web/storefront:2.9.1"
    restarts = 4
    d, rs, pods, old = app(s, "storefront", [cont], replicas=1,
                           statuses=lambda i: [crashloop("storefront", restarts, started=ts(1.5), finished=ts(1.5))],
                           prev=[prev], old_replicas=2, rollout=9, service=[("http", 80, "http")], progressing="updating")
    d["spec"]["replicas"] = 2
    d["status"]["updatedReplicas"] = 1
    crash_events(s, pods, image, restarts, since=9)
    for p in pods:
        body = """node:internal/modules/cjs/loader:1228
  throw err;
  ^

Error: Cannot find module 'express'
Require stack:
- /app/dist/server.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)
    at Module._load (node:internal/modules/cjs/loader:1051:27)
    at Module.require (node:internal/modules/cjs/loader:1311:19)
    at require (node:internal/modules/helpers:179:18)
    at Object.<anonymous> (/app/dist/server.js:3:17)
    at Module._compile (node:internal/modules/cjs/loader:1469:14) {
  code: 'MODULE_NOT_FOUND',
  requireStack: [ '/app/dist/server.js' ]
}

Node.js v20.18.0
"""
        s.log(p["metadata"]["name"], "storefront", body)
        s.log(p["metadata"]["name"], "storefront", body, previous=True)
    for p in old:
        s.log(p["metadata"]["name"], "storefront", "> storefront@2.9.1 start\n> node dist/server.js\n\nstorefront listening on :3000\n")
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "storefront", root_cause=["express"],
                              evidence=["Cannot find module 'express'"])]
    s.expect["must_not"] = [NOT("ServiceNoEndpoints", name="storefront")]
    return s


@scenario
def s05():
    s = Scenario("05-missing-secret-key-similar", "shop",
                 "payments 3.7.0 cannot start (CreateContainerConfigError): DB_PASSWORD reads key password of Secret payments-db, which has the keys username and pass")
    cluster(s)
    s.secret("payments-db", {"username": "payments", "pass": "hunter2-not-real"}, created=ts(days=40))
    image = "registry.example.com/shop/payments:3.7.0"
    cont = container("payments", image, ports=[("http", 8080)],
                     env=[env("DB_HOST", "pg-payments.shop.svc"), env("DB_NAME", "payments"),
                          env_secret("DB_USER", "payments-db", "username"),
                          env_secret("DB_PASSWORD", "payments-db", "password")],
                     readiness=http_probe("/ready", "http"))
    msg = "Error: couldn't find key password in Secret shop/payments-db"
    d, rs, pods, _ = app(s, "payments", [cont], replicas=2,
                         statuses=lambda i: [waiting("CreateContainerConfigError", "couldn't find key password in Secret shop/payments-db")],
                         prev=[dict(cont, image="registry.example.com/shop/payments:3.6.2",
                                    env=cont["env"][:2] + [env_secret("DB_USER", "payments-db", "username"),
                                                           env_secret("DB_PASS", "payments-db", "pass")])],
                         rollout=29, service=[("http", 8080, "http")], progressing="deadline",
                         strategy={"type": "Recreate"})
    for p in pods:
        kubelet_events(s, p, ("Pulled", f'Container image "{image}" already present on machine', "Normal", 139, 28.9, 0.5),
                       ("Failed", msg, "Warning", 139, 28.9, 0.5))
        s.log(p["metadata"]["name"], "payments",
              f'Request log error: container "payments" in pod "{p["metadata"]["name"]}" is waiting to start: CreateContainerConfigError')
    s.expect["findings"] = [F("CreateContainerConfigError", "Deployment", "payments", severity="critical",
                              cause=["password"], root_cause=["payments-db", "password", "pass"],
                              evidence=["couldn't find key password"],
                              fix={"target": {"kind": "Deployment", "name": "payments"},
                                   "patch": [T(f"{C0}/name", "payments"),
                                             T(f"{C0}/env/3/valueFrom/secretKeyRef/key", "password"),
                                             R(f"{C0}/env/3/valueFrom/secretKeyRef/key", "pass")],
                                   "dry_run": "passed", "requires_input": False})]
    return s


@scenario
def s06():
    s = Scenario("06-missing-secret", "notify",
                 "mailer cannot start (CreateContainerConfigError): it reads SMTP_PASSWORD from Secret smtp-credentials, which does not exist in the namespace")
    cluster(s)
    s.secret("mailer-tls", {"tls.crt": "x", "tls.key": "y"}, type_="kubernetes.io/tls")
    image = "registry.example.com/notify/mailer:1.4.0"
    cont = container("mailer", image, ports=[("http", 8025)],
                     env=[env("SMTP_HOST", "smtp.sendgrid.net"), env("SMTP_USER", "apikey"),
                          env_secret("SMTP_PASSWORD", "smtp-credentials", "password")])
    d, rs, pods, _ = app(s, "mailer", [cont], replicas=1,
                         statuses=lambda i: [waiting("CreateContainerConfigError", 'secret "smtp-credentials" not found')],
                         created_days=0, progressing="deadline")
    d["metadata"]["creationTimestamp"] = ts(26)
    for p in pods:
        p["metadata"]["creationTimestamp"] = ts(26)
        kubelet_events(s, p, ("Pulled", f'Container image "{image}" already present on machine', "Normal", 118, 25.8, 0.2),
                       ("Failed", 'Error: secret "smtp-credentials" not found', "Warning", 118, 25.8, 0.2))
    s.expect["findings"] = [F("CreateContainerConfigError", "Deployment", "mailer", severity="critical",
                              root_cause=["smtp-credentials"], evidence=['secret "smtp-credentials" not found'],
                              fix={"requires_input": True, "kubectl": ["smtp-credentials", "password"]})]
    return s


@scenario
def s07():
    s = Scenario("07-missing-configmap-envfrom", "analytics",
                 "reports cannot start (CreateContainerConfigError): envFrom references ConfigMap reports-env, which does not exist")
    cluster(s)
    s.configmap("reports-settings", {"REPORT_BUCKET": "s3://analytics-reports", "TZ": "UTC"})
    image = "registry.example.com/analytics/reports:0.9.0"
    cont = container("reports", image, ports=[("http", 8080)],
                     env_from=[{"configMapRef": {"name": "reports-env"}}])
    d, rs, pods, _ = app(s, "reports", [cont], replicas=1,
                         statuses=lambda i: [waiting("CreateContainerConfigError", 'configmap "reports-env" not found')],
                         prev=[dict(cont, image="registry.example.com/analytics/reports:0.8.4",
                                    env_from=[{"configMapRef": {"name": "reports-settings"}}])],
                         rollout=16, progressing="deadline")
    for p in pods:
        kubelet_events(s, p, ("Pulled", f'Container image "{image}" already present on machine', "Normal", 74, 15.8, 0.3),
                       ("Failed", 'Error: configmap "reports-env" not found', "Warning", 74, 15.8, 0.3))
    s.expect["findings"] = [F("CreateContainerConfigError", "Deployment", "reports", severity="critical",
                              root_cause=["reports-env"], evidence=['configmap "reports-env" not found'])]
    return s


@scenario
def s08():
    s = Scenario("08-configmap-volume-missing-key", "edge",
                 "edge-proxy pods are stuck in ContainerCreating: the config volume maps key nginx.conf of ConfigMap edge-proxy-config, which only has default.conf")
    cluster(s)
    s.configmap("edge-proxy-config", {"default.conf": "server {\n  listen 8080;\n  location / { proxy_pass http://storefront.web.svc; }\n}\n"},
                created=ts(31))
    image = "docker.io/nginxinc/nginx-unprivileged:1.27.2"
    cont = container("nginx", image, ports=[("http", 8080)],
                     mounts=[{"name": "config", "mountPath": "/etc/nginx/conf.d"}])
    vols = [{"name": "config", "configMap": {"name": "edge-proxy-config",
                                             "items": [{"key": "nginx.conf", "path": "default.conf"}],
                                             "defaultMode": 420}}]
    d, rs, pods, _ = app(s, "edge-proxy", [cont], replicas=2, volumes=vols,
                         statuses=lambda i: [waiting("ContainerCreating")], created_days=0, progressing="deadline")
    d["metadata"]["creationTimestamp"] = ts(30)
    for p in pods:
        s.event("Pod", p["metadata"]["name"], "FailedMount",
                'MountVolume.SetUp failed for volume "config" : configmap references non-existent config key: nginx.conf',
                type_="Warning", count=23, first=ts(29.9), last=ts(1.2), component="kubelet", host=p["spec"]["nodeName"])
    s.expect["findings"] = [F("MissingConfigReference", "Deployment", "edge-proxy",
                              root_cause=["edge-proxy-config", "nginx.conf"], evidence=["non-existent config key"],
                              fix={"target": {"kind": "Deployment", "name": "edge-proxy"},
                                   "patch": [T("/spec/template/spec/volumes/0/configMap/items/0/key", "nginx.conf"),
                                             R("/spec/template/spec/volumes/0/configMap/items/0/key", "default.conf")],
                                   "dry_run": "passed"})]
    return s


@scenario
def s09():
    s = Scenario("09-projected-volume-missing-secret", "telemetry",
                 "collector pods are stuck in ContainerCreating: the projected volume certs includes Secret collector-tls, which does not exist (only collector-ca is there)")
    cluster(s)
    s.configmap("collector-ca", {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"})
    image = "docker.io/otel/opentelemetry-collector-contrib:0.112.0"
    cont = container("otel", image, ports=[("otlp-grpc", 4317), ("otlp-http", 4318)],
                     mounts=[{"name": "certs", "readOnly": True, "mountPath": "/etc/otel/certs"}])
    vols = [{"name": "certs", "projected": {"sources": [
        {"secret": {"name": "collector-tls", "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}},
        {"configMap": {"name": "collector-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}], "defaultMode": 420}}]
    d, rs, pods, _ = app(s, "collector", [cont], replicas=2, volumes=vols,
                         statuses=lambda i: [waiting("ContainerCreating")], created_days=0, progressing="deadline")
    d["metadata"]["creationTimestamp"] = ts(40)
    for p in pods:
        s.event("Pod", p["metadata"]["name"], "FailedMount",
                'MountVolume.SetUp failed for volume "certs" : secret "collector-tls" not found',
                type_="Warning", count=27, first=ts(39.9), last=ts(2.2), component="kubelet", host=p["spec"]["nodeName"])
    s.expect["findings"] = [F("MissingConfigReference", "Deployment", "collector",
                              root_cause=["collector-tls"], evidence=['secret "collector-tls" not found'])]
    s.expect["must_not"] = [NOT("MissingConfigReference", kind="ConfigMap", name="collector-ca")]
    return s


@scenario
def s10():
    s = Scenario("10-oomkilled", "search",
                 "search 1.9.0 is OOMKilled every few minutes: its 140k-entry cache warmup needs more than the 256Mi memory limit")
    cluster(s)
    s.configmap("search-config", {"cache.max_entries": "140000", "cache.warmup": "true"})
    image = "registry.example.com/search/search:1.9.0"
    cont = container("search", image, ports=[("http", 8080)],
                     env=[env_cm("CACHE_MAX_ENTRIES", "search-config", "cache.max_entries")],
                     resources={"limits": {"memory": "256Mi"}, "requests": {"cpu": "200m", "memory": "128Mi"}},
                     readiness=http_probe("/ready", "http"))
    restarts = 6
    d, rs, pods, _ = app(s, "search", [cont], replicas=2,
                         statuses=lambda i: [crashloop("search", restarts, reason="OOMKilled", code=137,
                                                       started=ts(4.4), finished=ts(1.1))],
                         prev=[dict(cont, image="registry.example.com/search/search:1.8.2")], rollout=27,
                         service=[("http", 8080, "http")], progressing="deadline")
    crash_events(s, pods, image, restarts, since=27)
    for p in pods:
        lines = ['{"level":"info","msg":"search 1.9.0 starting","cache_max_entries":140000}']
        for i in range(1, 8):
            lines.append(f'{{"level":"info","msg":"cache warmup progress","entries":{i * 17000},"heap_inuse_mb":{i * 33 + 3}}}')
        s.log(p["metadata"]["name"], "search", "\n".join(lines[:3]))
        s.log(p["metadata"]["name"], "search", "\n".join(lines), previous=True)
    s.expect["findings"] = [F("OOMKilled", "Deployment", "search", root_cause=["256Mi"], evidence=["OOMKilled"],
                              fix={"target": {"kind": "Deployment", "name": "search"},
                                   "patch": [T(f"{C0}/name", "search"), T(f"{C0}/resources/limits/memory", "256Mi"),
                                             R(f"{C0}/resources/limits/memory")]})]
    return s


@scenario
def s11():
    s = Scenario("11-imagepull-mistyped-tag", "shop",
                 "catalog's new pod is in ImagePullBackOff: tag 2.5.0 does not exist (the registry's tags are v-prefixed); the previous ReplicaSet runs v2.4.0")
    cluster(s)
    image = "registry.example.com/shop/catalog:2.5.0"
    good = "registry.example.com/shop/catalog:v2.4.0"
    cont = container("catalog", image, ports=[("http", 8080)], readiness=http_probe("/ready", "http"))
    prev = dict(copy.deepcopy(cont), image=good)
    d, rs, pods, old = app(s, "catalog", [cont], replicas=1,
                           statuses=lambda i: [waiting("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image "{image}": failed to resolve reference "{image}": {image}: not found')],
                           prev=[prev], old_replicas=3, rollout=29, service=[("http", 8080, "http")],
                           progressing="deadline")
    d["spec"]["replicas"] = 3
    d["status"]["unavailableReplicas"] = 1
    for p in pods:
        kubelet_events(s, p,
                       ("Pulling", f'Pulling image "{image}"', "Normal", 10, 28.9, 2.9),
                       ("Failed", f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack image "{image}": failed to resolve reference "{image}": {image}: not found',
                        "Warning", 10, 28.9, 2.9),
                       ("Failed", "Error: ErrImagePull", "Warning", 10, 28.9, 2.9),
                       ("BackOff", f'Back-off pulling image "{image}"', "Normal", 141, 28.8, 0.3),
                       ("Failed", "Error: ImagePullBackOff", "Warning", 141, 28.8, 0.3))
        s.log(p["metadata"]["name"], "catalog",
              f'Request log error: container "catalog" in pod "{p["metadata"]["name"]}" is waiting to start: trying and failing to pull image')
    s.expect["findings"] = [F("ImagePullBackOff", "Deployment", "catalog", root_cause=["2.5.0"], evidence=["not found"],
                              fix={"target": {"kind": "Deployment", "name": "catalog"},
                                   "patch": [T(f"{C0}/name", "catalog"), T(f"{C0}/image", image), R(f"{C0}/image", good)],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("CrashLoopBackOff", name="catalog"), NOT("ServiceNoEndpoints", name="catalog")]
    return s


@scenario
def s12():
    s = Scenario("12-invalid-image-name", "finance",
                 "billing cannot start (InvalidImageName): the image reference registry.example.com/finance/Billing:1.2.0 has an upper-case repository name")
    cluster(s)
    image = "registry.example.com/finance/Billing:1.2.0"
    cont = container("billing", image, ports=[("http", 8080)])
    msg = f'Failed to apply default image tag "{image}": couldn\'t parse image name "{image}": invalid reference format: repository name (finance/Billing) must be lowercase'
    d, rs, pods, old = app(s, "billing", [cont], replicas=1,
                           statuses=lambda i: [waiting("InvalidImageName", msg)],
                           prev=[dict(copy.deepcopy(cont), image="registry.example.com/finance/billing:1.1.9")],
                           old_replicas=1, rollout=12, progressing="updating")
    for p in pods:
        kubelet_events(s, p, ("InspectFailed", msg, "Warning", 61, 11.9, 0.3),
                       ("Failed", "Error: InvalidImageName", "Warning", 61, 11.9, 0.3))
    s.expect["findings"] = [F("InvalidImageName", "Deployment", "billing", evidence=["invalid reference format"],
                              fix={"target": {"kind": "Deployment", "name": "billing"},
                                   "patch": [T(f"{C0}/image", image),
                                             R(f"{C0}/image", "registry.example.com/finance/billing:1.2.0")]})]
    return s


@scenario
def s13():
    s = Scenario("13-readiness-wrong-port", "shop",
                 "frontend pods run but never become Ready: the readiness probe targets port 8081, the app listens on 8080 (containerPort http)")
    cluster(s, ingress=True)
    image = "registry.example.com/shop/frontend:4.1.0"
    cont = container("frontend", image, ports=[("http", 8080)],
                     readiness=http_probe("/healthz", 8081, period=5),
                     liveness=http_probe("/livez", "http", initial=15))
    d, rs, pods, _ = app(s, "frontend", [cont], replicas=2,
                         statuses=lambda i: [running(ts(29), ready=False)],
                         prev=[dict(copy.deepcopy(cont), image="registry.example.com/shop/frontend:4.0.3",
                                    readinessProbe=http_probe("/healthz", "http", period=5))],
                         rollout=29.2, service=[("http", 80, "http")], progressing="deadline",
                         strategy={"type": "Recreate"})
    for p in pods:
        pip = p["status"]["podIP"]
        kubelet_events(s, p, ("Unhealthy", f'Readiness probe failed: Get "http://{pip}:8081/healthz": dial tcp {pip}:8081: connect: connection refused',
                              "Warning", 173, 29, 0.3))
        s.log(p["metadata"]["name"], "frontend", '{"level":"info","msg":"frontend 4.1.0 listening","addr":":8080"}\n{"level":"info","msg":"GET /livez","status":200}\n')
    s.expect["findings"] = [F("ProbeFailing", "Deployment", "frontend", root_cause=["8081", "8080"],
                              evidence=["Readiness probe failed"],
                              fix={"target": {"kind": "Deployment", "name": "frontend"},
                                   "patch": [T(f"{C0}/name", "frontend"), T(f"{C0}/readinessProbe/httpGet/port", 8081),
                                             R(f"{C0}/readinessProbe/httpGet/port")],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("ServiceSelectorMismatch", name="frontend"), NOT("ServiceTargetPortMismatch", name="frontend"),
                            NOT("CrashLoopBackOff", name="frontend")]
    return s


@scenario
def s14():
    s = Scenario("14-liveness-probe-restarts", "orders",
                 "fulfillment restarts every few minutes: its liveness probe GETs /healthz, which the app answers 404 (it serves /health, which the readiness probe uses)")
    cluster(s)
    image = "registry.example.com/orders/fulfillment:2.3.0"
    cont = container("fulfillment", image, ports=[("http", 8080)],
                     readiness=http_probe("/health", "http"),
                     liveness=http_probe("/healthz", "http", initial=10, period=10))
    restarts = 9

    def st(i):
        return [running(ts(0.6), ready=True, restarts=restarts,
                        last=last_terminated("Error", 143, ts(1.8), ts(0.7)))]
    d, rs, pods, _ = app(s, "fulfillment", [cont], replicas=2, statuses=st, created_days=0,
                         service=[("http", 80, "http")])
    d["metadata"]["creationTimestamp"] = ts(34)
    for p in pods:
        pip = p["status"]["podIP"]
        kubelet_events(s, p, ("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404", "Warning", 27, 33, 0.8),
                       ("Killing", "Container fulfillment failed liveness probe, will be restarted", "Normal", 9, 32.8, 0.7),
                       ("Pulled", f'Container image "{image}" already present on machine', "Normal", 10, 34, 0.6))
        s.log(p["metadata"]["name"], "fulfillment",
              f'{{"msg":"listening","addr":":8080"}}\n{{"msg":"request","method":"GET","path":"/health","status":200,"remote":"{ip("10.20", "node", p["spec"]["nodeName"])}"}}\n'
              f'{{"msg":"request","method":"GET","path":"/healthz","status":404}}\n')
        s.log(p["metadata"]["name"], "fulfillment",
              '{"msg":"listening","addr":":8080"}\n{"msg":"request","method":"GET","path":"/healthz","status":404}\n'
              '{"msg":"request","method":"GET","path":"/healthz","status":404}\n{"msg":"request","method":"GET","path":"/healthz","status":404}\n{"msg":"received SIGTERM, shutting down"}\n',
              previous=True)
    s.expect["findings"] = [F("ProbeFailing", "Deployment", "fulfillment", root_cause=["/healthz"],
                              evidence=["Liveness probe failed"],
                              fix={"target": {"kind": "Deployment", "name": "fulfillment"},
                                   "patch": [T(f"{C0}/livenessProbe/httpGet/path", "/healthz"),
                                             R(f"{C0}/livenessProbe/httpGet/path", "/health")]})]
    s.expect["must_not"] = [NOT("OOMKilled", name="fulfillment")]
    return s


@scenario
def s15():
    s = Scenario("15-unschedulable-insufficient-cpu", "ml",
                 "trainer pods stay Pending: each requests 8 CPUs and no node has more than 4 allocatable")
    cluster(s)
    image = "registry.example.com/ml/trainer:0.4.2"
    cont = container("trainer", image, resources={"limits": {"memory": "8Gi"}, "requests": {"cpu": "8", "memory": "6Gi"}})
    d, rs, pods, _ = app(s, "trainer", [cont], replicas=1, scheduled=False, statuses=lambda i: [],
                         created_days=0, progressing="deadline")
    d["metadata"]["creationTimestamp"] = ts(45)
    for p in pods:
        unschedulable(p, "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.")
        s.scheduler_event(p["metadata"]["name"],
                          "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
                          when=ts(44.9), count=12, last=ts(2))
    s.expect["findings"] = [F("Unschedulable", "Deployment", "trainer", evidence=["Insufficient cpu"],
                              root_cause=["cpu"])]
    return s


@scenario
def s16():
    s = Scenario("16-unschedulable-taint-no-toleration", "data",
                 "etl pods stay Pending: they select the data pool (pool=data), whose only node is tainted dedicated=data:NoSchedule, and they have no toleration")
    s.node("worker-1")
    s.node("worker-2")
    s.node("data-1", labels={"pool": "data"}, taints=[{"key": "dedicated", "value": "data", "effect": "NoSchedule"}])
    s.storageclass()
    s.basics()
    image = "registry.example.com/data/etl:5.0.1"
    cont = container("etl", image)
    d, rs, pods, _ = app(s, "etl", [cont], replicas=1, scheduled=False, statuses=lambda i: [],
                         tpl_kw={"node_selector": {"pool": "data"}}, created_days=0, progressing="deadline")
    d["metadata"]["creationTimestamp"] = ts(50)
    for p in pods:
        unschedulable(p, "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: data}, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
        s.scheduler_event(p["metadata"]["name"],
                          "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: data}, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
                          when=ts(49.9), count=14, last=ts(3))
    s.expect["findings"] = [F("Unschedulable", "Deployment", "etl", root_cause=["dedicated"],
                              evidence=["untolerated taint"],
                              fix={"target": {"kind": "Deployment", "name": "etl"},
                                   "patch": [A("/spec/template/spec/tolerations")]})]
    s.expect["must_not"] = [NOT("NodeNotReady")]
    return s


@scenario
def s17():
    s = Scenario("17-pvc-missing-storageclass", "orders",
                 "orders-db-0 stays Pending: its claim data-orders-db-0 asks for StorageClass fast-ssd, which does not exist (the cluster has standard)")
    cluster(s)
    tpl = template({"app": "orders-db"}, [container("postgres", "docker.io/library/postgres:16.4", ports=[("postgres", 5432)],
                                                     mounts=[{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
                                                     readiness=tcp_probe(5432), secure=False)])
    sts = s.add({"apiVersion": "apps/v1", "kind": "StatefulSet",
                 "metadata": s.meta("StatefulSet", "orders-db", created=ts(29), generation=1, labels={"app": "orders-db"}),
                 "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "orders-db"}}, "template": tpl,
                          "serviceName": "orders-db", "podManagementPolicy": "OrderedReady",
                          "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                          "revisionHistoryLimit": 10,
                          "volumeClaimTemplates": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                    "metadata": {"name": "data", "creationTimestamp": None},
                                                    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast-ssd",
                                                             "resources": {"requests": {"storage": "50Gi"}}, "volumeMode": "Filesystem"},
                                                    "status": {"phase": "Pending"}}],
                          "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}},
                 "status": {"observedGeneration": 1, "replicas": 1, "currentReplicas": 1, "updatedReplicas": 1,
                            "currentRevision": "orders-db-7c9f6d5b8d", "updateRevision": "orders-db-7c9f6d5b8d",
                            "collisionCount": 0, "availableReplicas": 0}})
    svc = s.service("orders-db", {"app": "orders-db"}, [("postgres", 5432, 5432)], headless=True)
    tpl2 = copy.deepcopy(tpl)
    tpl2["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data-orders-db-0"}}]
    tpl2["spec"]["hostname"] = "orders-db-0"
    tpl2["spec"]["subdomain"] = "orders-db"
    tpl2["metadata"]["labels"].update({"apps.kubernetes.io/pod-index": "0", "controller-revision-hash": "orders-db-7c9f6d5b8d",
                                       "statefulset.kubernetes.io/pod-name": "orders-db-0"})
    p = s.pod(sts, tpl=tpl2, name="orders-db-0", scheduled=False, created=ts(29))
    unschedulable(p, "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
    s.endpoints(svc)
    s.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": s.meta("PersistentVolumeClaim", "data-orders-db-0", created=ts(29),
                              labels={"app": "orders-db"},
                              annotations={"volume.beta.kubernetes.io/storage-provisioner": "fast-ssd.csi.example.com"}),
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}},
                    "storageClassName": "fast-ssd", "volumeMode": "Filesystem"},
           "status": {"phase": "Pending"}})
    s.find("PersistentVolumeClaim", "data-orders-db-0")["metadata"]["annotations"] = {}
    s.find("PersistentVolumeClaim", "data-orders-db-0")["metadata"].pop("annotations")
    s.event("StatefulSet", "orders-db", "SuccessfulCreate", "create Claim data-orders-db-0 Pod orders-db-0 in StatefulSet orders-db success",
            first=ts(29), component="statefulset-controller")
    s.event("StatefulSet", "orders-db", "SuccessfulCreate", "create Pod orders-db-0 in StatefulSet orders-db successful",
            first=ts(29), component="statefulset-controller")
    s.event("PersistentVolumeClaim", "data-orders-db-0", "ProvisioningFailed", 'storageclass.storage.k8s.io "fast-ssd" not found',
            type_="Warning", count=117, first=ts(29), last=ts(0.3), component="persistentvolume-controller")
    s.scheduler_event("orders-db-0", "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
                      when=ts(29), count=7, last=ts(4))
    s.expect["findings"] = [F("PVCPending", "PersistentVolumeClaim", "data-orders-db-0", root_cause=["fast-ssd"],
                              evidence=['"fast-ssd" not found'])]
    s.expect["must_not"] = [NOT("StatefulSetServiceMissing", name="orders-db")]
    return s


@scenario
def s18():
    s = Scenario("18-service-selector-mismatch", "shop",
                 "Service recommender has no endpoints: its selector asks tier=backend, the recommender pods are labelled tier=api")
    cluster(s)
    image = "registry.example.com/shop/recommender:1.3.0"
    cont = container("recommender", image, ports=[("http", 8080)], readiness=http_probe("/ready", "http"))
    d, rs, pods, _ = app(s, "recommender", [cont], replicas=2,
                         labels={"app": "recommender", "tier": "api", "app.kubernetes.io/part-of": "shop"})
    svc = s.service("recommender", {"app": "recommender", "tier": "backend"}, [("http", 8080, "http")])
    s.endpoints(svc)
    gw = container("gateway", "registry.example.com/shop/gateway:2.0.4", ports=[("http", 8080)],
                   env=[env("RECOMMENDER_URL", "http://recommender:8080")])
    gd, grs, gpods, _ = app(s, "gateway", [gw], replicas=1, service=[("http", 80, "http")])
    for p in gpods:
        s.log(p["metadata"]["name"], "gateway",
              f'{{"level":"error","msg":"upstream error","upstream":"recommender","err":"dial tcp {svc_ip("shop", "recommender")}:8080: connect: connection refused"}}\n' * 3)
    s.expect["findings"] = [F("ServiceSelectorMismatch", "Service", "recommender", root_cause=["tier"],
                              fix={"target": {"kind": "Service", "name": "recommender"},
                                   "patch": [T("/spec/selector/tier", "backend"), R("/spec/selector/tier", "api")],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("ServiceTargetPortMismatch", name="recommender"), NOT(name="gateway", kind="Service")]
    return s


@scenario
def s19():
    s = Scenario("19-service-targetport-mismatch", "warehouse",
                 "Service inventory forwards to targetPort 8080, but the inventory container listens on 9090 (containerPort http): every connection is refused")
    cluster(s)
    image = "registry.example.com/warehouse/inventory:3.2.1"
    cont = container("inventory", image, ports=[("http", 9090)], readiness=http_probe("/ready", "http"))
    d, rs, pods, _ = app(s, "inventory", [cont], replicas=2)
    svc = s.service("inventory", {"app": "inventory"}, [("http", 80, 8080)])
    s.endpoints(svc, pods)
    s.expect["findings"] = [F("ServiceTargetPortMismatch", "Service", "inventory", root_cause=["8080", "9090"],
                              fix={"target": {"kind": "Service", "name": "inventory"},
                                   "patch": [T("/spec/ports/0/targetPort", 8080), R("/spec/ports/0/targetPort")],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("ServiceSelectorMismatch", name="inventory"), NOT("ServiceNoEndpoints", name="inventory")]
    return s


def ingress(s, name, rules, cls="nginx", tls=None, status_ip="203.0.113.10"):
    spec = {"ingressClassName": cls}
    if tls:
        spec["tls"] = tls
    spec["rules"] = [{"host": host, "http": {"paths": [
        {"path": path, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": port}}}}
        for path, svc, port in paths]}} for host, paths in rules]
    return s.add({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                  "metadata": s.meta("Ingress", name, created=ts(days=8), generation=1),
                  "spec": spec,
                  "status": {"loadBalancer": {"ingress": [{"ip": status_ip}]} if status_ip else {}}})


@scenario
def s20():
    s = Scenario("20-ingress-backend-missing", "web",
                 "Ingress shop routes / to Service storefront, which does not exist: the Service is called store-front")
    cluster(s, ingress=True)
    cont = container("store-front", "registry.example.com/web/store-front:2.2.0", ports=[("http", 3000)],
                     readiness=http_probe("/health", "http"))
    labels = {"app": "store-front", "app.kubernetes.io/part-of": "web"}
    d, rs, pods, _ = app(s, "store-front", [cont], replicas=2, labels=labels)
    svc = s.service("store-front", {"app": "store-front"}, [("http", 80, "http")])
    s.endpoints(svc, pods)
    ingress(s, "shop", [("shop.example.com", [("/", "storefront", 80)])])
    s.event("Ingress", "shop", "Sync", "Scheduled for sync", count=2, first=ts(days=8), last=ts(30), component="nginx-ingress-controller")
    s.expect["findings"] = [F("IngressBackendNotFound", "Ingress", "shop", root_cause=["storefront"],
                              fix={"target": {"kind": "Ingress", "name": "shop"},
                                   "patch": [T("/spec/rules/0/http/paths/0/backend/service/name", "storefront"),
                                             R("/spec/rules/0/http/paths/0/backend/service/name", "store-front")],
                                   "dry_run": "passed"})]
    return s


@scenario
def s21():
    s = Scenario("21-ingress-class-missing", "api",
                 "Ingress public-api names ingressClassName nginx-public, which does not exist (the only IngressClass is nginx): no controller serves it")
    cluster(s, ingress=True)
    cont = container("api", "registry.example.com/api/public-api:7.1.0", ports=[("http", 8080)])
    d, rs, pods, _ = app(s, "public-api", [cont], replicas=2)
    svc = s.service("public-api", {"app": "public-api"}, [("http", 80, "http")])
    s.endpoints(svc, pods)
    ingress(s, "public-api", [("api.example.com", [("/", "public-api", 80)])], cls="nginx-public", status_ip=None)
    s.expect["findings"] = [F("IngressClassNotFound", "Ingress", "public-api", root_cause=["nginx-public"],
                              fix={"target": {"kind": "Ingress", "name": "public-api"},
                                   "patch": [T("/spec/ingressClassName", "nginx-public"), R("/spec/ingressClassName", "nginx")],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("IngressBackendNotFound", name="public-api")]
    return s


def hpa(s, name, target, minr=2, maxr=10, cpu=70, status=None, target_kind="Deployment"):
    return s.add({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                  "metadata": s.meta("HorizontalPodAutoscaler", name, created=ts(days=8)),
                  "spec": {"scaleTargetRef": {"kind": target_kind, "name": target, "apiVersion": "apps/v1"},
                           "minReplicas": minr, "maxReplicas": maxr,
                           "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}]},
                  "status": status})


@scenario
def s22():
    s = Scenario("22-hpa-missing-requests", "notify",
                 "HPA notifications cannot compute CPU utilization: the notifications container has no resources.requests")
    cluster(s)
    cont = container("notifications", "registry.example.com/notify/notifications:1.8.0", ports=[("http", 8080)], resources={})
    d, rs, pods, _ = app(s, "notifications", [cont], replicas=2)
    pod0 = pods[0]["metadata"]["name"]
    msg = f"failed to get cpu utilization: missing request for cpu in container notifications of Pod {pod0}"
    hpa(s, "notifications", "notifications", status={
        "currentReplicas": 2, "desiredReplicas": 0,
        "currentMetrics": [{"type": ""}],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "lastTransitionTime": ts(days=8), "reason": "SucceededGetScale",
             "message": "the HPA controller was able to get the target's current scale"},
            {"type": "ScalingActive", "status": "False", "lastTransitionTime": ts(days=8), "reason": "FailedGetResourceMetric",
             "message": "the HPA was unable to compute the replica count: " + msg}]})
    s.find("HorizontalPodAutoscaler", "notifications")["status"].pop("currentMetrics")
    s.event("HorizontalPodAutoscaler", "notifications", "FailedGetResourceMetric", msg, type_="Warning", count=115,
            first=ts(58), last=ts(0.5), component="horizontal-pod-autoscaler")
    s.event("HorizontalPodAutoscaler", "notifications", "FailedComputeMetricsReplicas",
            "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: " + msg,
            type_="Warning", count=115, first=ts(58), last=ts(0.5), component="horizontal-pod-autoscaler")
    s.expect["findings"] = [F("HPAMissingRequests", "HorizontalPodAutoscaler", "notifications",
                              root_cause=["notifications", "request"], evidence=["missing request for cpu"],
                              fix={"target": {"kind": "Deployment", "name": "notifications"},
                                   "patch": [A(f"{C0}/resources/requests")]})]
    return s


@scenario
def s23():
    s = Scenario("23-hpa-target-not-found", "edge",
                 "HPA gateway scales Deployment api-gateway, which does not exist: the Deployment is called gateway")
    cluster(s)
    cont = container("gateway", "registry.example.com/edge/gateway:2.0.4", ports=[("http", 8080)])
    d, rs, pods, _ = app(s, "gateway", [cont], replicas=2)
    hpa(s, "gateway", "api-gateway", status={
        "currentReplicas": 0, "desiredReplicas": 0,
        "conditions": [{"type": "AbleToScale", "status": "False", "lastTransitionTime": ts(days=8), "reason": "FailedGetScale",
                        "message": 'the HPA controller was unable to get the target\'s current scale: deployments/scale.apps "api-gateway" not found'}]})
    s.event("HorizontalPodAutoscaler", "gateway", "FailedGetScale", 'deployments/scale.apps "api-gateway" not found',
            type_="Warning", count=2930, first=ts(days=8), last=ts(0.2), component="horizontal-pod-autoscaler")
    s.expect["findings"] = [F("HPATargetNotFound", "HorizontalPodAutoscaler", "gateway", root_cause=["api-gateway"],
                              fix={"target": {"kind": "HorizontalPodAutoscaler", "name": "gateway"},
                                   "patch": [T("/spec/scaleTargetRef/name", "api-gateway"), R("/spec/scaleTargetRef/name", "gateway")],
                                   "dry_run": "passed"})]
    return s


def job(s, name, tpl, status, created, backoff=6, owner=None, completions=1, labels=None):
    juid = uid("Job", s.ns, name)
    tpl = copy.deepcopy(tpl)
    tpl["metadata"]["labels"].update({"batch.kubernetes.io/controller-uid": juid, "batch.kubernetes.io/job-name": name,
                                      "controller-uid": juid, "job-name": name})
    j = {"apiVersion": "batch/v1", "kind": "Job",
         "metadata": s.meta("Job", name, created=created, generation=1, owner=owner,
                            labels=dict(labels or {}, **{"batch.kubernetes.io/controller-uid": juid,
                                                         "batch.kubernetes.io/job-name": name,
                                                         "controller-uid": juid, "job-name": name})),
         "spec": {"parallelism": 1, "completions": completions, "backoffLimit": backoff,
                  "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": juid}},
                  "manualSelector": False, "template": tpl, "completionMode": "NonIndexed", "suspend": False,
                  "podReplacementPolicy": "TerminatingOrFailed"},
         "status": status}
    s.add(j)
    j["_pods"] = []
    return j


@scenario
def s24():
    s = Scenario("24-job-backofflimit-exceeded", "platform",
                 "Job db-migrate-2026-47 failed (BackoffLimitExceeded): migration 0047 fails on every try because column orders.customer_ref already exists")
    cluster(s)
    s.secret("migrate-db", {"url": "postgres://migrate:x@pg.platform.svc:5432/app"})
    tpl = template({"app": "db-migrate"}, [container("migrate", "registry.example.com/platform/migrations:2026.47",
                                                      args=["up"], env=[env_secret("DATABASE_URL", "migrate-db", "url")])],
                   restart="Never")
    j = job(s, "db-migrate-2026-47", tpl, {
        "conditions": [
            {"type": "FailureTarget", "status": "True", "lastProbeTime": ts(22), "lastTransitionTime": ts(22),
             "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"},
            {"type": "Failed", "status": "True", "lastProbeTime": ts(22), "lastTransitionTime": ts(22),
             "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}],
        "startTime": ts(31), "failed": 3, "terminating": 0, "ready": 0,
        "uncountedTerminatedPods": {}}, created=ts(31), backoff=2)
    for i, (a, b) in enumerate([(30.9, 30.7), (30.4, 30.2), (25, 24.8)]):
        p = s.pod(j, node=s.node_names[i], statuses=[terminated("Error", 1, ts(a), ts(b))], phase="Failed",
                  name=f"db-migrate-2026-47-{h('mig' + str(i), 5)}", created=ts(a + 0.1),
                  conditions=[{"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": None, "lastTransitionTime": ts(b)},
                              {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(a + 0.1)},
                              {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": ts(b), "reason": "PodFailed"},
                              {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": ts(b), "reason": "PodFailed"},
                              {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(a + 0.1)}])
        s.log(p["metadata"]["name"], "migrate",
              "2026/11/20 08:29:41 applying 0046_add_invoice_index.sql ... already applied\n"
              "2026/11/20 08:29:41 applying 0047_orders_customer_ref.sql\n"
              'error: migration 0047_orders_customer_ref.sql failed: ERROR: column "customer_ref" of relation "orders" already exists (SQLSTATE 42701)\n')
        s.event("Job", "db-migrate-2026-47", "SuccessfulCreate", f"Created pod: {p['metadata']['name']}", first=ts(a + 0.1),
                component="job-controller")
    s.event("Job", "db-migrate-2026-47", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
            type_="Warning", first=ts(22), component="job-controller")
    s.expect["findings"] = [F("JobFailed", "Job", "db-migrate-2026-47", severity="error", cause=["backoff"],
                              evidence=["already exists"])]
    return s


@scenario
def s25():
    s = Scenario("25-cronjob-invalid-schedule", "reports",
                 "CronJob nightly-export never runs: its schedule \"0 25 * * *\" is invalid (hour 25)")
    cluster(s)
    tpl = template({"app": "nightly-export"}, [container("export", "registry.example.com/reports/export:1.2.0")],
                   restart="OnFailure")
    s.add({"apiVersion": "batch/v1", "kind": "CronJob",
           "metadata": s.meta("CronJob", "nightly-export", created=ts(days=3), generation=1),
           "spec": {"schedule": "0 25 * * *", "concurrencyPolicy": "Forbid", "suspend": False,
                    "jobTemplate": {"metadata": {"creationTimestamp": None}, "spec": {"backoffLimit": 2, "template": tpl}},
                    "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1},
           "status": {}})
    s.event("CronJob", "nightly-export", "UnparseableSchedule",
            'unparseable schedule for cronjob: 0 25 * * * : End of range (25) above maximum (23): 25',
            type_="Warning", count=1, first=ts(days=3), last=ts(days=3), component="cronjob-controller")
    s.expect["findings"] = [F("CronJobInvalidSchedule", "CronJob", "nightly-export", root_cause=["0 25 * * *"])]
    s.expect["must_not"] = [NOT("CronJobSuspended")]
    return s


@scenario
def s26():
    s = Scenario("26-statefulset-service-missing", "streaming",
                 "StatefulSet kafka names serviceName kafka-headless, which does not exist: its pods get no stable DNS names and brokers cannot find each other")
    cluster(s)
    labels = {"app": "kafka"}
    tpl = template(labels, [container("kafka", "docker.io/apache/kafka:3.8.0", ports=[("broker", 9092), ("controller", 9093)],
                                      env=[env("KAFKA_CONTROLLER_QUORUM_VOTERS",
                                               "0@kafka-0.kafka-headless.streaming.svc:9093,1@kafka-1.kafka-headless.streaming.svc:9093,2@kafka-2.kafka-headless.streaming.svc:9093")],
                                      mounts=[{"name": "data", "mountPath": "/var/lib/kafka/data"}],
                                      readiness=tcp_probe(9092))])
    sts = s.add({"apiVersion": "apps/v1", "kind": "StatefulSet",
                 "metadata": s.meta("StatefulSet", "kafka", created=ts(days=2), generation=1, labels=labels),
                 "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": tpl, "serviceName": "kafka-headless",
                          "podManagementPolicy": "Parallel",
                          "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}, "revisionHistoryLimit": 10,
                          "volumeClaimTemplates": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                    "metadata": {"name": "data", "creationTimestamp": None},
                                                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                                                             "storageClassName": "standard", "volumeMode": "Filesystem"},
                                                    "status": {"phase": "Pending"}}],
                          "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}},
                 "status": {"observedGeneration": 1, "replicas": 3, "currentReplicas": 3, "updatedReplicas": 3,
                            "currentRevision": "kafka-5d8c7b9f6", "updateRevision": "kafka-5d8c7b9f6", "collisionCount": 0,
                            "availableReplicas": 0}})
    svc = s.service("kafka", labels, [("broker", 9092, 9092)])
    pods = []
    for i in range(3):
        t = copy.deepcopy(tpl)
        t["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-kafka-{i}"}}]
        t["spec"]["hostname"] = f"kafka-{i}"
        t["spec"]["subdomain"] = "kafka-headless"
        t["metadata"]["labels"].update({"apps.kubernetes.io/pod-index": str(i), "controller-revision-hash": "kafka-5d8c7b9f6",
                                        "statefulset.kubernetes.io/pod-name": f"kafka-{i}"})
        p = s.pod(sts, tpl=t, name=f"kafka-{i}", node=s.node_names[i],
                  statuses=[crashloop("kafka", 11, started=ts(2.5), finished=ts(2.1))], created=ts(days=2))
        pods.append(p)
        s.log(f"kafka-{i}", "kafka",
              "[2026-11-20 08:58:02,114] INFO [RaftManager id=%d] Completed transition to Unattached\n"
              "[2026-11-20 08:58:04,311] WARN [RaftManager id=%d] Error connecting to node kafka-%d.kafka-headless.streaming.svc:9093 (id: %d rack: null) (org.apache.kafka.clients.NetworkClient)\n"
              "java.net.UnknownHostException: kafka-%d.kafka-headless.streaming.svc: Name or service not known\n" % (i, i, (i + 1) % 3, (i + 1) % 3, (i + 1) % 3),
              previous=True)
        s.log(f"kafka-{i}", "kafka", "[2026-11-20 08:59:40,002] INFO Registered kafka:type=kafka.Log4jController MBean\n")
        s.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": s.meta("PersistentVolumeClaim", f"data-kafka-{i}", created=ts(days=2), labels=labels,
                                  annotations={"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                                               "volume.beta.kubernetes.io/storage-provisioner": "driver.longhorn.io",
                                               "volume.kubernetes.io/storage-provisioner": "driver.longhorn.io"}),
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                        "volumeName": f"pvc-{uid('pvc', 'kafka', str(i))}", "storageClassName": "standard", "volumeMode": "Filesystem"},
               "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}})
    crash_events(s, pods, "docker.io/apache/kafka:3.8.0", 11, since=58)
    s.endpoints(svc, [], pods)
    s.expect["findings"] = [F("StatefulSetServiceMissing", "StatefulSet", "kafka", root_cause=["kafka-headless"])]
    s.expect["must_not"] = [NOT("ServiceSelectorMismatch", name="kafka")]
    return s


def daemonset(s, name, tpl, nodes, statuses, created=None, misscheduled=0):
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet",
          "metadata": s.meta("DaemonSet", name, created=created or ts(days=20), generation=1,
                             labels={"app": name},
                             annotations={"deprecated.daemonset.template.generation": "1"}),
          "spec": {"selector": {"matchLabels": {"app": name}}, "template": tpl,
                   "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                   "revisionHistoryLimit": 10},
          "status": {}}
    s.add(ds)
    ds["_pods"] = []
    hsh = h(name + "ds", 10)
    for n, st in zip(nodes, statuses):
        t = copy.deepcopy(tpl)
        t["metadata"]["labels"].update({"controller-revision-hash": hsh, "pod-template-generation": "1"})
        aff = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [n]}]}]}}}
        t["spec"]["affinity"] = aff
        tol = t["spec"].setdefault("tolerations", [])
        for key, eff in [("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
                         ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                         ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule")]:
            tol.append({"key": key, "operator": "Exists", "effect": eff})
        s.pod(ds, tpl=t, node=n, statuses=st, name=f"{name}-{h(name + n, 5)}")
    ready = sum(1 for p in ds["_pods"] if all(c["ready"] for c in p["status"].get("containerStatuses", [])))
    ds["status"] = {"currentNumberScheduled": len(nodes), "numberMisscheduled": misscheduled,
                    "desiredNumberScheduled": len(nodes), "numberReady": ready, "observedGeneration": 1,
                    "updatedNumberScheduled": len(nodes), "numberAvailable": ready}
    if len(nodes) - ready:
        ds["status"]["numberUnavailable"] = len(nodes) - ready
    return ds


@scenario
def s27():
    s = Scenario("27-daemonset-failing-on-one-node", "logging",
                 "DaemonSet log-shipper crash-loops on worker-3 only: that node has no /var/log/journal (hostPath), the reader exits on start")
    cluster(s)
    tpl = template({"app": "log-shipper"}, [container("shipper", "docker.io/fluent/fluent-bit:3.1.9",
                                                       mounts=[{"name": "journal", "readOnly": True, "mountPath": "/var/log/journal"}],
                                                       resources={"limits": {"memory": "128Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}},
                                                       secure=False)],
                   volumes=[{"name": "journal", "hostPath": {"path": "/var/log/journal", "type": ""}}],
                   tolerations=[{"operator": "Exists"}])
    ok = [running(ts(days=20, seconds=-20))]
    bad = [crashloop("shipper", 214, started=ts(3.4), finished=ts(3.4))]
    ds = daemonset(s, "log-shipper", tpl, ["worker-1", "worker-2", "worker-3"], [ok, ok, bad])
    p = ds["_pods"][2]
    crash_events(s, [p], "docker.io/fluent/fluent-bit:3.1.9", 214, since=58)
    body = ("Fluent Bit v3.1.9\n* Copyright (C) 2015-2024 The Fluent Bit Authors\n\n"
            "[2026/11/20 08:56:49] [ info] [fluent bit] version=3.1.9, commit=431fa79ae2, pid=1\n"
            "[2026/11/20 08:56:49] [error] [input:systemd:systemd.0] cannot open journal path /var/log/journal: No such file or directory\n"
            "[2026/11/20 08:56:49] [error] failed initialize input systemd.0\n"
            "[2026/11/20 08:56:49] [error] [engine] input initialization failed\n")
    s.log(p["metadata"]["name"], "shipper", body)
    s.log(p["metadata"]["name"], "shipper", body, previous=True)
    for q in ds["_pods"][:2]:
        s.log(q["metadata"]["name"], "shipper", "[2026/11/01 09:00:34] [ info] [output:forward:forward.0] worker #0 started\n")
    s.expect["findings"] = [F("CrashLoopBackOff", "DaemonSet", "log-shipper", evidence=["/var/log/journal"])]
    s.expect["must_not"] = [NOT("NodeNotReady")]
    return s


@scenario
def s28():
    s = Scenario("28-node-not-ready", "shop",
                 "Node worker-2 is NotReady (the kubelet stopped posting status 7 minutes ago); its pods are unreachable and marked not ready")
    s.node("worker-1")
    unknown = [(t, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", ts(7.4), ts(6.5))
               for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
    n2 = s.node("worker-2", conditions=unknown,
                taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": ts(6.5)},
                        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": ts(6.4)}])
    s.node("worker-3")
    s.storageclass()
    s.basics()
    cont = container("cart", "registry.example.com/shop/cart:1.5.2", ports=[("http", 8080)], readiness=http_probe("/ready", "http"))

    def st(i):
        return [running(ts(days=9, seconds=-9), ready=(i != 1))]
    d, rs, pods, _ = app(s, "cart", [cont], replicas=3, statuses=st, service=[("http", 80, "http")],
                         nodes=["worker-1", "worker-2", "worker-3"])
    p = pods[1]
    p["status"]["conditions"][2].update({"status": "False", "lastTransitionTime": ts(6.5)})
    p["status"]["conditions"][2].pop("reason", None)
    p["status"]["conditions"][2].pop("message", None)
    p["status"]["conditions"][3]["status"] = "True"
    p["status"]["conditions"][3].pop("reason", None)
    p["status"]["conditions"][3].pop("message", None)
    p["status"]["containerStatuses"][0]["ready"] = False
    s.event("Node", "worker-2", "NodeNotReady", "Node worker-2 status is now: NodeNotReady", first=ts(6.5),
            component="node-controller")
    s.event("Pod", p["metadata"]["name"], "NodeNotReady", "Node is not ready", type_="Warning", first=ts(6.5),
            component="node-controller")
    s.log(p["metadata"]["name"], "cart", f'Request log error: Get "https://{ip("10.20", "node", "worker-2")}:10250/containerLogs/shop/{p["metadata"]["name"]}/cart": dial tcp {ip("10.20", "node", "worker-2")}:10250: connect: no route to host')
    s.expect["findings"] = [F("NodeNotReady", "Node", "worker-2", severity="critical",
                              evidence=["Kubelet stopped posting node status"])]
    s.expect["must_not"] = [NOT("NodeNotReady", name="worker-1"), NOT("NodeNotReady", name="worker-3")]
    return s


@scenario
def s29():
    s = Scenario("29-webhook-no-endpoints", "policy-system",
                 "ValidatingWebhookConfiguration policy-guard (failurePolicy Fail) calls Service policy-system/policy-webhook, which has no endpoints (its Deployment is scaled to 0): every pod create in the cluster is refused")
    cluster(s)
    cont = container("webhook", "registry.example.com/platform/policy-webhook:0.7.1", ports=[("https", 8443)],
                     readiness=http_probe("/readyz", "https"))
    d, rs, pods, _ = app(s, "policy-webhook", [cont], replicas=0)
    d["spec"]["replicas"] = 0
    svc = s.service("policy-webhook", {"app": "policy-webhook"}, [("https", 443, "https")])
    s.endpoints(svc)
    s.event("Deployment", "policy-webhook", "ScalingReplicaSet", f"Scaled down replica set {rs['metadata']['name']} from 2 to 0",
            first=ts(21), component="deployment-controller")
    s.add({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
           "metadata": s.meta("ValidatingWebhookConfiguration", "policy-guard", created=ts(days=15), generation=1),
           "webhooks": [{"name": "pods.policy-guard.example.com",
                         "clientConfig": {"service": {"namespace": "policy-system", "name": "policy-webhook", "path": "/validate", "port": 443},
                                          "caBundle": b64("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")},
                         "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                    "resources": ["pods"], "scope": "*"}],
                         "failurePolicy": "Fail", "matchPolicy": "Equivalent",
                         "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                                                     "values": ["kube-system", "policy-system"]}]},
                         "objectSelector": {}, "sideEffects": "None", "timeoutSeconds": 10,
                         "admissionReviewVersions": ["v1"]}]})
    # The symptom, in another namespace: a ReplicaSet that cannot create pods.
    s2 = "shop"
    s.basics(s2)
    old_ns = s.ns
    s.ns = s2
    web = container("web", "registry.example.com/shop/web:3.3.0", ports=[("http", 8080)])
    wd, wrs, wpods, wold = app(s, "web", [web], replicas=0, prev=[dict(copy.deepcopy(web), image="registry.example.com/shop/web:3.2.9")],
                               old_replicas=2, rollout=15, events=False, progressing="updating")
    wd["spec"]["replicas"] = 2
    msg = ('Error creating: Internal error occurred: failed calling webhook "pods.policy-guard.example.com": failed to call webhook: '
           'Post "https://policy-webhook.policy-system.svc:443/validate?timeout=10s": no endpoints available for service "policy-webhook"')
    wrs["spec"]["replicas"] = 1
    wrs["_extra_status"] = {"conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": ts(15),
                                            "reason": "FailedCreate", "message": msg}]}
    s.finish_deployment(wd, progressing="updating", replica_failure=msg)
    s.event("ReplicaSet", wrs["metadata"]["name"], "FailedCreate", msg, type_="Warning", count=19, first=ts(15), last=ts(0.9),
            component="replicaset-controller")
    s.ns = old_ns
    s.expect["findings"] = [F("WebhookNoEndpoints", "ValidatingWebhookConfiguration", "policy-guard", severity="critical",
                              root_cause=["policy-webhook"])]
    return s


@scenario
def s30():
    s = Scenario("30-pdb-blocks-eviction", "payments",
                 "PDB ledger-db requires minAvailable 2 of a 2-replica StatefulSet: 0 disruptions allowed, so draining worker-2 is blocked")
    s.node("worker-1")
    s.node("worker-2", unschedulable=True, taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": ts(42)}])
    s.node("worker-3")
    s.storageclass()
    s.basics()
    labels = {"app": "ledger-db"}
    tpl = template(labels, [container("postgres", "docker.io/library/postgres:16.4", ports=[("postgres", 5432)],
                                      readiness=tcp_probe(5432), secure=False)])
    sts = s.add({"apiVersion": "apps/v1", "kind": "StatefulSet",
                 "metadata": s.meta("StatefulSet", "ledger-db", created=ts(days=20), generation=1, labels=labels),
                 "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": tpl, "serviceName": "ledger-db",
                          "podManagementPolicy": "OrderedReady",
                          "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}, "revisionHistoryLimit": 10,
                          "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}},
                 "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "currentReplicas": 2, "updatedReplicas": 2,
                            "currentRevision": "ledger-db-6f7d8c9b5", "updateRevision": "ledger-db-6f7d8c9b5", "collisionCount": 0,
                            "availableReplicas": 2}})
    svc = s.service("ledger-db", labels, [("postgres", 5432, 5432)], headless=True)
    pods = []
    for i, n in enumerate(["worker-2", "worker-3"]):
        t = copy.deepcopy(tpl)
        t["metadata"]["labels"].update({"apps.kubernetes.io/pod-index": str(i), "controller-revision-hash": "ledger-db-6f7d8c9b5",
                                        "statefulset.kubernetes.io/pod-name": f"ledger-db-{i}"})
        t["spec"]["hostname"] = f"ledger-db-{i}"
        t["spec"]["subdomain"] = "ledger-db"
        pods.append(s.pod(sts, tpl=t, name=f"ledger-db-{i}", node=n, statuses=[running(ts(days=20, seconds=-30))], created=ts(days=20)))
    s.endpoints(svc, pods)
    s.add({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": s.meta("PodDisruptionBudget", "ledger-db", created=ts(days=20), generation=1),
           "spec": {"minAvailable": 2, "selector": {"matchLabels": labels}},
           "status": {"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 2,
                      "conditions": [{"type": "DisruptionAllowed", "status": "False", "observedGeneration": 1,
                                      "lastTransitionTime": ts(days=20), "reason": "InsufficientPods", "message": ""}]}})
    s.event("Node", "worker-2", "NodeNotSchedulable", "Node worker-2 status is now: NodeNotSchedulable", first=ts(42),
            component="kubelet", host="worker-2")
    s.event("Pod", "ledger-db-0", "EvictionBlocked", "Cannot evict pod as it would violate the pod's disruption budget.",
            type_="Warning", count=41, first=ts(41.8), last=ts(0.6), component="disruption-controller")
    s.expect["findings"] = [F("PDBBlocksEviction", "PodDisruptionBudget", "ledger-db", root_cause=["minAvailable"])]
    s.expect["must_not"] = [NOT("PDBNoMatchingPods")]
    return s


@scenario
def s31():
    s = Scenario("31-networkpolicy-selects-no-pods", "shop",
                 "NetworkPolicy allow-frontend-ingress selects app=front-end, but the pods are labelled app=frontend: the policy protects nothing")
    cluster(s)
    cont = container("frontend", "registry.example.com/shop/frontend:4.0.3", ports=[("http", 8080)])
    labels = {"app": "frontend", "app.kubernetes.io/part-of": "shop"}
    d, rs, pods, _ = app(s, "frontend", [cont], replicas=2, labels=labels, service=[("http", 80, "http")])
    s.add({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": s.meta("NetworkPolicy", "allow-frontend-ingress", created=ts(days=2), generation=1),
           "spec": {"podSelector": {"matchLabels": {"app": "front-end"}},
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                                 "ports": [{"protocol": "TCP", "port": 8080}]}],
                    "policyTypes": ["Ingress"]}})
    s.expect["findings"] = [F("NetworkPolicyNoPods", "NetworkPolicy", "allow-frontend-ingress", root_cause=["front-end"],
                              fix={"target": {"kind": "NetworkPolicy", "name": "allow-frontend-ingress"},
                                   "patch": [T("/spec/podSelector/matchLabels/app", "front-end"),
                                             R("/spec/podSelector/matchLabels/app", "frontend")]})]
    s.expect["must_not"] = [NOT("NetworkPolicyDenyAll")]
    return s


@scenario
def s32():
    s = Scenario("32-replicaset-quota-exceeded", "batch-api",
                 "batch-api's new ReplicaSet cannot create pods: ResourceQuota compute-quota caps requests.cpu at 4 and 3800m are used")
    cluster(s)
    cont = container("api", "registry.example.com/batch/batch-api:2.1.0", ports=[("http", 8080)],
                     resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "512Mi"}})
    prev = dict(copy.deepcopy(cont), image="registry.example.com/batch/batch-api:2.0.7")
    d, rs, pods, old = app(s, "batch-api", [cont], replicas=0, prev=[prev], old_replicas=4, rollout=26, events=False)
    d["spec"]["replicas"] = 4
    rs["spec"]["replicas"] = 1
    rsn = rs["metadata"]["name"]
    msg = (f'pods "{rsn}-{h("q", 5)}" is forbidden: exceeded quota: compute-quota, requested: requests.cpu=500m, '
           "used: requests.cpu=3800m, limited: requests.cpu=4")
    rs["_extra_status"] = {"conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": ts(26),
                                           "reason": "FailedCreate", "message": msg}]}
    s.finish_deployment(d, progressing="deadline", replica_failure=msg)
    s.event("Deployment", "batch-api", "ScalingReplicaSet", f"Scaled up replica set {rsn} from 0 to 1", first=ts(26),
            component="deployment-controller")
    s.event("ReplicaSet", rsn, "FailedCreate", "Error creating: " + msg, type_="Warning", count=23, first=ts(26), last=ts(1.4),
            component="replicaset-controller")
    # 4 x 500m of the old pods + 1800m of others = 3800m
    other = container("cache", "docker.io/library/redis:7.4", ports=[("redis", 6379)],
                      resources={"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "1800m", "memory": "512Mi"}}, secure=False)
    app(s, "cache", [other], replicas=1)
    s.add({"apiVersion": "v1", "kind": "ResourceQuota",
           "metadata": s.meta("ResourceQuota", "compute-quota", created=ts(days=30)),
           "spec": {"hard": {"limits.memory": "16Gi", "requests.cpu": "4", "requests.memory": "8Gi"}},
           "status": {"hard": {"limits.memory": "16Gi", "requests.cpu": "4", "requests.memory": "8Gi"},
                      "used": {"limits.memory": "5Gi", "requests.cpu": "3800m", "requests.memory": "2560Mi"}}})
    # Pods grouped under their workload: the ReplicaSet's Deployment (docs/diagnostics.md, `object`).
    s.expect["findings"] = [F("ReplicaSetCreateFailed", "Deployment", "batch-api", root_cause=[rsn, "compute-quota"],
                              evidence=["exceeded quota"])]
    return s


@scenario
def s33():
    s = Scenario("33-httproute-missing-backend", "store",
                 "HTTPRoute store sends /checkout to Service checkout-v2, which does not exist (ResolvedRefs False, BackendNotFound)")
    cluster(s)
    s.add({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
           "metadata": s.meta("GatewayClass", "envoy", created=ts(days=30), generation=1),
           "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
           "status": {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Valid GatewayClass",
                                      "observedGeneration": 1, "lastTransitionTime": ts(days=30)}]}})
    s.add({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
           "metadata": s.meta("Gateway", "public", created=ts(days=10), generation=1),
           "spec": {"gatewayClassName": "envoy", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80,
                                                                "allowedRoutes": {"namespaces": {"from": "Same"}}}]},
           "status": {"addresses": [{"type": "IPAddress", "value": "203.0.113.20"}],
                      "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "The Gateway has been scheduled by Envoy Gateway",
                                      "observedGeneration": 1, "lastTransitionTime": ts(days=10)},
                                     {"type": "Programmed", "status": "True", "reason": "Programmed", "message": "Address assigned to the Gateway, 1/1 envoy replicas available",
                                      "observedGeneration": 1, "lastTransitionTime": ts(days=10)}],
                      "listeners": [{"name": "http", "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                                     "attachedRoutes": 1,
                                     "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed", "message": "Sending translated listener configuration to the data plane",
                                                     "observedGeneration": 1, "lastTransitionTime": ts(days=10)}]}]}})
    for name in ("storefront", "checkout"):
        c = container(name, f"registry.example.com/store/{name}:1.0.0", ports=[("http", 8080)])
        _, _, pods, _ = app(s, name, [c], replicas=1)
        svc = s.service(name, {"app": name}, [("http", 80, "http")])
        s.endpoints(svc, pods)
    s.add({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
           "metadata": s.meta("HTTPRoute", "store", created=ts(24), generation=2),
           "spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public"}],
                    "hostnames": ["store.example.com"],
                    "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/checkout"}}],
                               "backendRefs": [{"group": "", "kind": "Service", "name": "checkout-v2", "port": 80, "weight": 1}]},
                              {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                               "backendRefs": [{"group": "", "kind": "Service", "name": "storefront", "port": 80, "weight": 1}]}]},
           "status": {"parents": [{"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public"},
                                   "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
                                   "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "Route is accepted",
                                                   "observedGeneration": 2, "lastTransitionTime": ts(24)},
                                                  {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound",
                                                   "message": "Failed to process route rule 0 backendRef 0: service store/checkout-v2 not found.",
                                                   "observedGeneration": 2, "lastTransitionTime": ts(24)}]}]}})
    s.expect["findings"] = [F("HTTPRouteBackendNotFound", "HTTPRoute", "store", root_cause=["checkout-v2"])]
    s.expect["must_not"] = [NOT("HTTPRouteParentNotFound"), NOT("GatewayNotAccepted"), NOT("GatewayClassNotAccepted")]
    return s


# ============================================================ healthy


@scenario
def s34():
    s = Scenario("34-healthy-web-app", "web",
                 "healthy: a 3-replica web app behind an Ingress, with an HPA on CPU (requests set) and a PDB allowing one disruption")
    cluster(s, ingress=True)
    s.configmap("web-config", {"LOG_LEVEL": "info", "FEATURE_FLAGS": "new-cart"})
    cont = container("web", "registry.example.com/web/web:5.4.2", ports=[("http", 8080)],
                     env_from=[{"configMapRef": {"name": "web-config"}}],
                     resources={"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "200m", "memory": "192Mi"}},
                     readiness=http_probe("/ready", "http", period=5), liveness=http_probe("/live", "http", initial=10))
    prev = dict(copy.deepcopy(cont), image="registry.example.com/web/web:5.4.1")
    d, rs, pods, _ = app(s, "web", [cont], replicas=3, prev=[prev], rollout=44, service=[("http", 80, "http")],
                         tpl_kw={"sa": "web"})
    s.serviceaccount("web")
    for p in pods:
        s.pod_start_events(p, cont["image"], 43.8)
        s.log(p["metadata"]["name"], "web", '{"level":"info","msg":"web 5.4.2 listening on :8080"}\n{"level":"info","msg":"GET /ready","status":200}\n')
    ingress(s, "web", [("www.example.com", [("/", "web", 80)])],
            tls=[{"hosts": ["www.example.com"], "secretName": "www-tls"}])
    s.secret("www-tls", {"tls.crt": "c", "tls.key": "k"}, type_="kubernetes.io/tls")
    hpa(s, "web", "web", minr=3, maxr=12, cpu=70, status={
        "lastScaleTime": ts(days=2), "currentReplicas": 3, "desiredReplicas": 3,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "61m", "averageUtilization": 30}}}],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "lastTransitionTime": ts(days=8), "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
            {"type": "ScalingActive", "status": "True", "lastTransitionTime": ts(days=8), "reason": "ValidMetricFound",
             "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"},
            {"type": "ScalingLimited", "status": "True", "lastTransitionTime": ts(days=2), "reason": "TooFewReplicas",
             "message": "the desired replica count is less than the minimum replica count"}]})
    s.add({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": s.meta("PodDisruptionBudget", "web", created=ts(days=9), generation=1),
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
           "status": {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
                      "conditions": [{"type": "DisruptionAllowed", "status": "True", "observedGeneration": 1,
                                      "lastTransitionTime": ts(43), "reason": "SufficientPods", "message": ""}]}})
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("HPAMissingRequests"), NOT("PDBBlocksEviction"), NOT("IngressBackendNotFound"),
                            NOT("IngressTLSSecretNotFound"), NOT("ServiceNoEndpoints")]
    return s


@scenario
def s35():
    s = Scenario("35-healthy-statefulset-database", "db",
                 "healthy: a 3-replica PostgreSQL StatefulSet with a headless Service and three Bound PVCs on the default StorageClass")
    cluster(s)
    labels = {"app": "pg"}
    tpl = template(labels, [container("postgres", "docker.io/library/postgres:16.4", ports=[("postgres", 5432)],
                                      env=[env_secret("POSTGRES_PASSWORD", "pg-auth", "password"), env("PGDATA", "/var/lib/postgresql/data/pgdata")],
                                      mounts=[{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
                                      resources={"limits": {"memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
                                      readiness=tcp_probe(5432, period=5), secure=False)])
    s.secret("pg-auth", {"password": "not-a-real-password"})
    sts = s.add({"apiVersion": "apps/v1", "kind": "StatefulSet",
                 "metadata": s.meta("StatefulSet", "pg", created=ts(days=25), generation=1, labels=labels),
                 "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": tpl, "serviceName": "pg",
                          "podManagementPolicy": "OrderedReady",
                          "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}, "revisionHistoryLimit": 10,
                          "volumeClaimTemplates": [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                    "metadata": {"name": "data", "creationTimestamp": None},
                                                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}},
                                                             "storageClassName": "standard", "volumeMode": "Filesystem"},
                                                    "status": {"phase": "Pending"}}],
                          "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}},
                 "status": {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3,
                            "currentRevision": "pg-7b5f9c6d48", "updateRevision": "pg-7b5f9c6d48", "collisionCount": 0,
                            "availableReplicas": 3}})
    svc = s.service("pg", labels, [("postgres", 5432, 5432)], headless=True)
    pods = []
    for i in range(3):
        t = copy.deepcopy(tpl)
        t["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-pg-{i}"}}]
        t["spec"]["hostname"] = f"pg-{i}"
        t["spec"]["subdomain"] = "pg"
        t["metadata"]["labels"].update({"apps.kubernetes.io/pod-index": str(i), "controller-revision-hash": "pg-7b5f9c6d48",
                                        "statefulset.kubernetes.io/pod-name": f"pg-{i}"})
        pods.append(s.pod(sts, tpl=t, name=f"pg-{i}", node=s.node_names[i], statuses=[running(ts(days=25, seconds=-60 * i))],
                          created=ts(days=25)))
        s.log(f"pg-{i}", "postgres", "2026-11-19 23:00:01.114 UTC [61] LOG:  checkpoint starting: time\n2026-11-19 23:04:31.208 UTC [61] LOG:  checkpoint complete: wrote 1923 buffers (11.7%)\n")
        vol = f"pvc-{uid('pvc', 'pg', str(i))}"
        s.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": s.meta("PersistentVolumeClaim", f"data-pg-{i}", created=ts(days=25), labels=labels,
                                  annotations={"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                                               "volume.beta.kubernetes.io/storage-provisioner": "driver.longhorn.io",
                                               "volume.kubernetes.io/storage-provisioner": "driver.longhorn.io"}),
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}},
                        "volumeName": vol, "storageClassName": "standard", "volumeMode": "Filesystem"},
               "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "20Gi"}}})
        s.add({"apiVersion": "v1", "kind": "PersistentVolume",
               "metadata": s.meta("PersistentVolume", vol, created=ts(days=25),
                                  annotations={"pv.kubernetes.io/provisioned-by": "driver.longhorn.io",
                                               "volume.kubernetes.io/provisioner-deletion-secret-name": "",
                                               "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""}),
               "spec": {"capacity": {"storage": "20Gi"},
                        "csi": {"driver": "driver.longhorn.io", "volumeHandle": vol, "fsType": "ext4",
                                "volumeAttributes": {"numberOfReplicas": "2", "storage.kubernetes.io/csiProvisionerIdentity": "1729000000000-8081-driver.longhorn.io"}},
                        "accessModes": ["ReadWriteOnce"],
                        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "db", "name": f"data-pg-{i}",
                                     "uid": uid("PersistentVolumeClaim", "db", f"data-pg-{i}"), "apiVersion": "v1", "resourceVersion": "1"},
                        "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard", "volumeMode": "Filesystem"},
               "status": {"phase": "Bound", "lastPhaseTransitionTime": ts(days=25)}})
    s.endpoints(svc, pods)
    s.add({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": s.meta("PodDisruptionBudget", "pg", created=ts(days=25), generation=1),
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
           "status": {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
                      "conditions": [{"type": "DisruptionAllowed", "status": "True", "observedGeneration": 1,
                                      "lastTransitionTime": ts(days=25), "reason": "SufficientPods", "message": ""}]}})
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("PVCPending"), NOT("StatefulSetServiceMissing"), NOT("PVReleased"), NOT("PDBBlocksEviction")]
    return s


@scenario
def s36():
    s = Scenario("36-healthy-batch", "batch",
                 "healthy: a CronJob whose recent runs all completed, a one-off Job that completed, and their Succeeded pods")
    cluster(s)
    tpl = template({"app": "rollup"}, [container("rollup", "registry.example.com/batch/rollup:3.1.0", args=["--window=1h"])],
                   restart="OnFailure")
    cj = s.add({"apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": s.meta("CronJob", "hourly-rollup", created=ts(days=12), generation=1),
                "spec": {"schedule": "0 * * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid", "suspend": False,
                         "jobTemplate": {"metadata": {"creationTimestamp": None}, "spec": {"backoffLimit": 2, "template": tpl}},
                         "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1},
                "status": {"active": None, "lastScheduleTime": "2026-11-20T09:00:00Z", "lastSuccessfulTime": "2026-11-20T08:01:12Z"}})
    cj["status"].pop("active")
    for hour, sched in ((7, "2026-11-20T07:00:00Z"), (8, "2026-11-20T08:00:00Z")):
        name = f"hourly-rollup-{29_000_000 + hour * 60}"
        done = f"2026-11-20T0{hour}:01:12Z"
        j = job(s, name, tpl, {"conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": done, "lastTransitionTime": done,
             "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
            {"type": "Complete", "status": "True", "lastProbeTime": done, "lastTransitionTime": done,
             "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}],
            "startTime": sched, "completionTime": done, "succeeded": 1, "terminating": 0, "ready": 0,
            "uncountedTerminatedPods": {}}, created=sched, backoff=2, owner=cj)
        p = s.pod(j, node=s.node_names[hour % 3], statuses=[terminated("Completed", 0, sched.replace(":00Z", ":03Z"), done)],
                  phase="Succeeded", name=f"{name}-{h(name, 5)}", created=sched,
                  conditions=[{"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": None, "lastTransitionTime": done},
                              {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": sched, "reason": "PodCompleted"},
                              {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": done, "reason": "PodCompleted"},
                              {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": done, "reason": "PodCompleted"},
                              {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": sched}])
        s.log(p["metadata"]["name"], "rollup", f"rolled up 1h window ending {sched}: 48211 rows\n")
        if hour == 8:
            s.event("CronJob", "hourly-rollup", "SuccessfulCreate", f"Created job {name}", first=sched, component="cronjob-controller")
            s.event("Job", name, "SuccessfulCreate", f"Created pod: {p['metadata']['name']}", first=sched, component="job-controller")
            s.event("Job", name, "Completed", "Job completed", first=done, component="job-controller")
            s.event("CronJob", "hourly-rollup", "SawCompletedJob", f"Saw completed job: {name}, condition: Complete", first=done,
                    component="cronjob-controller")
    tpl2 = template({"app": "backfill"}, [container("backfill", "registry.example.com/batch/backfill:1.0.4")], restart="Never")
    done = ts(50)
    j = job(s, "backfill-2026-11", tpl2, {"conditions": [
        {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": done, "lastTransitionTime": done,
         "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
        {"type": "Complete", "status": "True", "lastProbeTime": done, "lastTransitionTime": done,
         "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}],
        "startTime": ts(58), "completionTime": done, "succeeded": 1, "terminating": 0, "ready": 0, "uncountedTerminatedPods": {}},
        created=ts(58))
    p = s.pod(j, node="worker-2", statuses=[terminated("Completed", 0, ts(57.9), done)], phase="Succeeded",
              name=f"backfill-2026-11-{h('bf', 5)}", created=ts(58),
              conditions=[{"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": None, "lastTransitionTime": done},
                          {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(58), "reason": "PodCompleted"},
                          {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": done, "reason": "PodCompleted"},
                          {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": done, "reason": "PodCompleted"},
                          {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(58)}])
    s.log(p["metadata"]["name"], "backfill", "backfill complete: 2026-11-01..2026-11-19, 912004 rows\n")
    s.event("Job", "backfill-2026-11", "Completed", "Job completed", first=done, component="job-controller")
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("JobFailed"), NOT("CronJobLastRunFailed"), NOT("CronJobInvalidSchedule"), NOT("CronJobSuspended"),
                            NOT("ContainerFailing")]
    return s


@scenario
def s37():
    s = Scenario("37-healthy-daemonsets-tainted-nodes", "monitoring",
                 "healthy: a control-plane node and a GPU node are tainted; the node-exporter DaemonSet tolerates both, the GPU workload tolerates its taint")
    s.node("cp-1", role="control-plane", taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    s.node("worker-1")
    s.node("worker-2")
    s.node("gpu-1", labels={"nvidia.com/gpu.present": "true"},
           taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
    s.storageclass()
    s.basics()
    tpl = template({"app": "node-exporter"}, [container("node-exporter", "quay.io/prometheus/node-exporter:v1.8.2",
                                                         ports=[("metrics", 9100)], args=["--path.rootfs=/host"],
                                                         mounts=[{"name": "root", "readOnly": True, "mountPath": "/host", "mountPropagation": "HostToContainer"}],
                                                         resources={"limits": {"memory": "64Mi"}, "requests": {"cpu": "20m", "memory": "32Mi"}},
                                                         readiness=http_probe("/", "metrics"))],
                   volumes=[{"name": "root", "hostPath": {"path": "/", "type": ""}}],
                   tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
                                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    ds = daemonset(s, "node-exporter", tpl, ["cp-1", "worker-1", "worker-2", "gpu-1"],
                   [[running(ts(days=20, seconds=-15))]] * 4)
    svc = s.service("node-exporter", {"app": "node-exporter"}, [("metrics", 9100, "metrics")], headless=True)
    s.endpoints(svc, ds["_pods"])
    cont = container("inference", "registry.example.com/ml/inference:2.2.0", ports=[("http", 8000)],
                     resources={"limits": {"nvidia.com/gpu": "1", "memory": "8Gi"}, "requests": {"cpu": "2", "memory": "6Gi", "nvidia.com/gpu": "1"}})
    app(s, "inference", [cont], replicas=1, nodes=["gpu-1"],
        tpl_kw={"node_selector": {"nvidia.com/gpu.present": "true"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]},
        service=[("http", 80, "http")])
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("Unschedulable"), NOT("DaemonSetMisscheduled"), NOT("NodeNotReady"), NOT("NodeUnschedulable")]
    return s


@scenario
def s38():
    s = Scenario("38-healthy-old-restarts-recovered", "shop",
                 "healthy: pods restarted days ago (an OOMKill and a failed dependency at start-up) and have run Ready ever since")
    cluster(s)
    cont = container("cart", "registry.example.com/shop/cart:1.5.2", ports=[("http", 8080)],
                     resources={"limits": {"memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}},
                     readiness=http_probe("/ready", "http"))

    def st(i):
        if i == 0:
            return [running(ts(days=5, hours=2), restarts=1,
                            last=last_terminated("OOMKilled", 137, ts(days=6, hours=3), ts(days=5, hours=2, seconds=10)))]
        return [running(ts(days=8, hours=23), restarts=3,
                        last=last_terminated("Error", 1, ts(days=8, hours=23, seconds=40), ts(days=8, hours=23, seconds=20)))]
    d, rs, pods, _ = app(s, "cart", [cont], replicas=2, statuses=st, service=[("http", 80, "http")])
    for p in pods:
        s.log(p["metadata"]["name"], "cart", '{"level":"info","msg":"GET /ready","status":200}\n')
    s.log(pods[0]["metadata"]["name"], "cart", '{"level":"info","msg":"cart 1.5.2 listening on :8080"}\n{"level":"warn","msg":"bulk import of 1.2M items started"}\n', previous=True)
    s.log(pods[1]["metadata"]["name"], "cart", '{"level":"error","msg":"redis not reachable yet","err":"dial tcp 10.96.4.17:6379: connect: connection refused"}\n', previous=True)
    redis = container("redis", "docker.io/library/redis:7.4", ports=[("redis", 6379)], secure=False)
    _, _, rp, _ = app(s, "redis", [redis], replicas=1, service=[("redis", 6379, "redis")])
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("CrashLoopBackOff"), dict(NOT("OOMKilled"), severity="error"),
                            dict(NOT("OOMKilled"), severity="critical")]
    return s


def load_more():
    """Scenarios kept in `_gen/more_*.py` files, one file per class of failure:
    each runs in a copy of this module's namespace (so `@scenario`, `F`, `T`… are
    there, and one file's helpers never replace another's)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.startswith("more_") and name.endswith(".py"):
            path = os.path.join(here, name)
            with open(path) as f:
                exec(compile(f.read(), path, "exec"), dict(globals()))


def main():
    load_more()
    for fn in SCENARIOS:
        s = fn()
        s.write(ROOT)
        print("wrote", s.dirname)


if __name__ == "__main__":
    main()
