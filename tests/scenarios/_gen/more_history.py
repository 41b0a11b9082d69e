# Issue 20, classes 2 (cascades) and 4 (no alarms from history), and
# healthy-but-noisy clusters: scenarios 63-80. Run by scenarios.py in its
# namespace (`@scenario`, `F`, `T`, `R`, `A`, `NOT`, `app`, `cluster`… are there).


def statefulset(s, name, cont, replicas, statuses, service, created_days=30, volumes=None, claim=None):
    """A StatefulSet with its pods `name-0…`; `statuses(i)` gives pod i's container statuses."""
    labels = {"app": name}
    tpl = template(labels, [cont], volumes)
    spec = {"replicas": replicas, "selector": {"matchLabels": labels}, "template": tpl,
            "serviceName": service, "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}}
    if claim:
        spec["volumeClaimTemplates"] = [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                         "metadata": {"name": "data", "creationTimestamp": None},
                                         "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": claim}},
                                                  "storageClassName": "standard", "volumeMode": "Filesystem"},
                                         "status": {"phase": "Pending"}}]
    sts = s.add({"apiVersion": "apps/v1", "kind": "StatefulSet",
                 "metadata": s.meta("StatefulSet", name, created=ts(days=created_days), generation=1, labels=labels),
                 "spec": spec, "status": {}})
    sts["_pods"] = []
    rev = f"{name}-{h(name + 'rev', 10)}"
    pods = []
    for i in range(replicas if claim else 0):
        s.add({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": s.meta("PersistentVolumeClaim", f"data-{name}-{i}", created=ts(days=created_days), labels=labels,
                                  annotations={"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                                               "volume.beta.kubernetes.io/storage-provisioner": "driver.longhorn.io",
                                               "volume.kubernetes.io/storage-provisioner": "driver.longhorn.io"}),
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": claim}},
                        "storageClassName": "standard", "volumeMode": "Filesystem",
                        "volumeName": f"pvc-{uid('pvc', s.ns, name, str(i))}"},
               "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": claim}}})
    for i in range(replicas):
        t = copy.deepcopy(tpl)
        t["metadata"]["labels"].update({"controller-revision-hash": rev,
                                        "statefulset.kubernetes.io/pod-name": f"{name}-{i}",
                                        "apps.kubernetes.io/pod-index": str(i)})
        if claim:
            t["spec"]["volumes"] = (t["spec"].get("volumes") or []) + [
                {"name": "data", "persistentVolumeClaim": {"claimName": f"data-{name}-{i}"}}]
        t["spec"]["hostname"] = f"{name}-{i}"
        t["spec"]["subdomain"] = service
        p = s.pod(sts, tpl=t, name=f"{name}-{i}", node=s.node_names[i % len(s.node_names)],
                  statuses=statuses(i), created=ts(days=created_days))
        pods.append(p)
    ready = sum(1 for p in pods if all(c["ready"] for c in p["status"].get("containerStatuses", [])))
    sts["status"] = {"observedGeneration": 1, "replicas": replicas, "readyReplicas": ready,
                     "currentReplicas": replicas, "updatedReplicas": replicas, "currentRevision": rev,
                     "updateRevision": rev, "collisionCount": 0, "availableReplicas": ready}
    if not ready:
        sts["status"].pop("readyReplicas")
    return sts, pods


def both_logs(s, pods, cname, body, current=None):
    for p in pods:
        s.log(p["metadata"]["name"], cname, current if current is not None else body)
        s.log(p["metadata"]["name"], cname, body, previous=True)


def crashing(cname, restarts, code=1, since=2.0):
    return lambda i: [crashloop(cname, restarts, code=code, started=ts(since + 0.1), finished=ts(since))]


def ready_logs(s, pods, cname, text):
    for p in pods:
        s.log(p["metadata"]["name"], cname, text)


# ============================================================ class 2: cascades


@scenario
def s63():
    s = Scenario("63-cascade-redis-oomkilled", "storefront",
                 "redis is OOMKilled at its 256Mi limit while loading its 600 MB snapshot (maxmemory 512mb) and crash-loops; cart and sessions crash-loop with ECONNREFUSED to Service redis: symptoms of the redis failure")
    cluster(s)
    s.configmap("redis-config", {"redis.conf": "maxmemory 512mb\nmaxmemory-policy allkeys-lru\nappendonly no\ndir /data\n"}, created=ts(days=12))
    rimage = "docker.io/library/redis:7.4.1"
    rc = container("redis", rimage, ports=[("redis", 6379)], command=["redis-server", "/etc/redis/redis.conf"],
                   mounts=[{"name": "config", "mountPath": "/etc/redis"}, {"name": "data", "mountPath": "/data"}],
                   readiness=tcp_probe("redis"), secure=False,
                   resources={"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}})
    _, _, rpods, _ = app(s, "redis", [rc], replicas=1,
                         statuses=lambda i: [crashloop("redis", 9, reason="OOMKilled", code=137, started=ts(1.4), finished=ts(1.2))],
                         volumes=[{"name": "config", "configMap": {"name": "redis-config", "defaultMode": 420}},
                                  {"name": "data", "emptyDir": {}}],
                         service=[("redis", 6379, "redis")])
    crash_events(s, rpods, rimage, 9, since=38)
    both_logs(s, rpods, "redis", """1:C 20 Nov 2026 08:58:50.102 * oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo
1:C 20 Nov 2026 08:58:50.102 * Redis version=7.4.1, bits=64, commit=00000000, modified=0, pid=1, just started
1:C 20 Nov 2026 08:58:50.102 * Configuration loaded
1:M 20 Nov 2026 08:58:50.103 * Server initialized
1:M 20 Nov 2026 08:58:50.103 * Loading RDB produced by version 7.4.1
1:M 20 Nov 2026 08:58:50.103 * RDB age 86122 seconds
1:M 20 Nov 2026 08:58:50.103 * RDB memory usage when created 611.42 Mb
""")
    rip = svc_ip("storefront", "redis")
    cimage = "registry.example.com/storefront/cart:4.2.0"
    cc = container("cart", cimage, ports=[("http", 3000)], env=[env("REDIS_URL", "redis://redis:6379/0"), env("NODE_ENV", "production")],
                   readiness=http_probe("/healthz", "http"))
    _, _, cpods, _ = app(s, "cart", [cc], replicas=2, statuses=crashing("cart", 7, since=0.8), service=[("http", 80, "http")])
    crash_events(s, cpods, cimage, 7, since=37)
    both_logs(s, cpods, "cart", f"""> cart@4.2.0 start
> node dist/main.js

{{"level":30,"time":1795165141203,"pid":1,"hostname":"cart","msg":"cart 4.2.0 starting"}}
{{"level":50,"time":1795165141288,"pid":1,"hostname":"cart","err":{{"type":"Error","message":"connect ECONNREFUSED {rip}:6379","stack":"Error: connect ECONNREFUSED {rip}:6379\\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)","errno":-111,"code":"ECONNREFUSED","syscall":"connect","address":"{rip}","port":6379}},"msg":"redis connection failed"}}
Error: connect ECONNREFUSED {rip}:6379
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16) {{
  errno: -111,
  code: 'ECONNREFUSED',
  syscall: 'connect',
  address: '{rip}',
  port: 6379
}}

Node.js v20.18.0
""")
    simage = "registry.example.com/storefront/sessions:1.9.3"
    sc = container("sessions", simage, ports=[("http", 8000)], env=[env("REDIS_HOST", "redis"), env("REDIS_PORT", "6379")],
                   command=["gunicorn", "sessions.app:app", "-b", "0.0.0.0:8000"])
    _, _, spods, _ = app(s, "sessions", [sc], replicas=2, statuses=crashing("sessions", 8, since=1.6), service=[("http", 80, "http")])
    crash_events(s, spods, simage, 8, since=37)
    both_logs(s, spods, "sessions", """[2026-11-20 08:58:35 +0000] [1] [INFO] Starting gunicorn 23.0.0
[2026-11-20 08:58:35 +0000] [1] [INFO] Listening at: http://0.0.0.0:8000 (1)
[2026-11-20 08:58:35 +0000] [7] [INFO] Booting worker with pid: 7
[2026-11-20 08:58:36 +0000] [7] [ERROR] Exception in worker process
Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/redis/connection.py", line 357, in connect
    sock = self.retry.call_with_retry(
  File "/usr/local/lib/python3.12/site-packages/redis/connection.py", line 721, in _connect
    raise err
ConnectionRefusedError: [Errno 111] Connection refused

During handling of the above exception, another exception occurred:

redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.
[2026-11-20 08:58:36 +0000] [7] [INFO] Worker exiting (pid: 7)
[2026-11-20 08:58:36 +0000] [1] [ERROR] Worker (pid:7) exited with code 3
[2026-11-20 08:58:36 +0000] [1] [ERROR] Shutting down: Master
[2026-11-20 08:58:36 +0000] [1] [ERROR] Reason: Worker failed to boot.
""")
    s.expect["findings"] = [
        F("OOMKilled", "Deployment", "redis", severity="critical", root_cause=["256Mi"],
          evidence=["Deployment storefront/cart", "Deployment storefront/sessions"]),
        F("CrashLoopBackOff", "Deployment", "cart", root_cause=["Deployment storefront/redis"], evidence=["ECONNREFUSED"]),
        F("CrashLoopBackOff", "Deployment", "sessions", root_cause=["Deployment storefront/redis"], evidence=["Connection refused"]),
    ]
    s.expect["must_not"] = [NOT("ServiceSelectorMismatch", name="redis"), NOT("ServiceTargetPortMismatch", name="redis")]
    return s


@scenario
def s64():
    s = Scenario("64-cascade-postgres-statefulset-crash", "billing",
                 "PostgreSQL StatefulSet pg crash-loops (data directory has wrong ownership after a volume restore); invoice-api (JDBC) and the ledger worker (Go pgx) fail with connection refused to Service pg: its symptoms")
    cluster(s)
    pgc = container("postgres", "docker.io/library/postgres:16.4", ports=[("postgres", 5432)],
                    env=[env("PGDATA", "/var/lib/postgresql/data/pgdata")],
                    mounts=[{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
                    readiness={"exec": {"command": ["pg_isready", "-U", "postgres"]}, "timeoutSeconds": 1,
                               "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}, secure=False)
    sts, pgpods = statefulset(s, "pg", pgc, 1, crashing("postgres", 11, since=3.1), "pg", claim="50Gi")
    crash_events(s, pgpods, "docker.io/library/postgres:16.4", 11, since=45)
    both_logs(s, pgpods, "postgres", """
PostgreSQL Database directory appears to contain a database; Skipping initialization

2026-11-20 08:57:05.311 UTC [1] FATAL:  data directory "/var/lib/postgresql/data/pgdata" has wrong ownership
2026-11-20 08:57:05.311 UTC [1] HINT:  The server must be started by the user that owns the data directory.
""")
    svc = s.service("pg", {"app": "pg"}, [("postgres", 5432, "postgres")], headless=False)
    s.endpoints(svc, [], pgpods)
    pip_ = svc_ip("billing", "pg")
    iimage = "registry.example.com/billing/invoice-api:3.1.4"
    ic = container("invoice-api", iimage, ports=[("http", 8080)],
                   env=[env("SPRING_DATASOURCE_URL", "jdbc:postgresql://pg:5432/billing")],
                   resources={"limits": {"memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "768Mi"}})
    _, _, ipods, _ = app(s, "invoice-api", [ic], replicas=2, statuses=crashing("invoice-api", 6, since=2.4),
                         service=[("http", 80, "http")])
    crash_events(s, ipods, iimage, 6, since=44)
    both_logs(s, ipods, "invoice-api", """2026-11-20T08:57:41.022Z  INFO 1 --- [invoice-api] [           main] c.e.billing.InvoiceApplication           : Starting InvoiceApplication v3.1.4 using Java 21.0.5 with PID 1
2026-11-20T08:57:44.870Z  INFO 1 --- [invoice-api] [           main] com.zaxxer.hikari.HikariDataSource       : HikariPool-1 - Starting...
2026-11-20T08:57:45.914Z ERROR 1 --- [invoice-api] [           main] com.zaxxer.hikari.pool.HikariPool        : HikariPool-1 - Exception during pool initialization.

org.postgresql.util.PSQLException: Connection to pg:5432 refused. Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections.
\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:352)
\tat org.postgresql.core.ConnectionFactory.openConnection(ConnectionFactory.java:54)
Caused by: java.net.ConnectException: Connection refused
\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)
\t... 58 common frames omitted
2026-11-20T08:57:45.931Z  WARN 1 --- [invoice-api] [           main] o.s.b.a.orm.jpa.DatabaseLookup           : Unable to determine jdbc url from datasource
2026-11-20T08:57:46.102Z ERROR 1 --- [invoice-api] [           main] o.s.boot.SpringApplication               : Application run failed
""")
    limage = "registry.example.com/billing/ledger-worker:0.14.2"
    lc = container("ledger-worker", limage, env=[env("DATABASE_URL", "postgres://ledger@pg.billing.svc:5432/billing?sslmode=disable")])
    _, _, lpods, _ = app(s, "ledger-worker", [lc], replicas=1, statuses=crashing("ledger-worker", 9, code=1, since=1.1))
    crash_events(s, lpods, limage, 9, since=44)
    both_logs(s, lpods, "ledger-worker", f"""time=2026-11-20T08:58:59.020Z level=INFO msg="ledger-worker starting" version=0.14.2
time=2026-11-20T08:59:00.031Z level=ERROR msg="cannot connect to database" err="failed to connect to `user=ledger database=billing`: {pip_}:5432 (pg.billing.svc): dial error: dial tcp {pip_}:5432: connect: connection refused"
""")
    s.expect["findings"] = [
        F("CrashLoopBackOff", "StatefulSet", "pg", severity="critical", root_cause=["wrong ownership"],
          evidence=["Deployment billing/invoice-api", "Deployment billing/ledger-worker"]),
        F("CrashLoopBackOff", "Deployment", "invoice-api", root_cause=["StatefulSet billing/pg"], evidence=["refused"]),
        F("CrashLoopBackOff", "Deployment", "ledger-worker", root_cause=["StatefulSet billing/pg"], evidence=["connection refused"]),
    ]
    s.expect["must_not"] = [NOT("ServiceSelectorMismatch", name="pg"), NOT("ServiceTargetPortMismatch", name="pg")]
    return s


@scenario
def s65():
    s = Scenario("65-cascade-image-pull-upstream-by-ip", "search",
                 "opensearch was rolled to a tag that does not exist (ImagePullBackOff, no old pod left); search-api times out dialing the Service's ClusterIP and crash-loops: a symptom of the pull failure")
    cluster(s)
    oimage = "registry.example.com/search/opensearch:2.17.3-hardened"
    oc = container("opensearch", oimage, ports=[("http", 9200), ("transport", 9300)], secure=False,
                   resources={"limits": {"memory": "4Gi"}, "requests": {"cpu": "1", "memory": "4Gi"}})
    prev = dict(oc, image="registry.example.com/search/opensearch:2.17.1-hardened")
    msg = f'Back-off pulling image "{oimage}"'
    _, _, opods, _ = app(s, "opensearch", [oc], replicas=1, prev=[prev], rollout=50,
                         statuses=lambda i: [waiting("ImagePullBackOff", msg)], service=[("http", 9200, "http")],
                         progressing="deadline")
    for p in opods:
        pn = p["metadata"]["name"]
        kubelet_events(s, p, ("Pulling", f'Pulling image "{oimage}"', "Normal", 14, 49.9, 4.1),
                       ("Failed", f'Failed to pull image "{oimage}": rpc error: code = NotFound desc = failed to pull and unpack image "{oimage}": failed to resolve reference "{oimage}": {oimage}: not found', "Warning", 14, 49.9, 4.1),
                       ("Failed", "Error: ErrImagePull", "Warning", 14, 49.9, 4.1),
                       ("BackOff", msg, "Normal", 201, 49.8, 0.3),
                       ("Failed", "Error: ImagePullBackOff", "Warning", 201, 49.8, 0.3))
        s.log(pn, "opensearch", f'Request log error: container "opensearch" in pod "{pn}" is waiting to start: trying and failing to pull image')
    oip = svc_ip("search", "opensearch")
    aimage = "registry.example.com/search/search-api:5.0.2"
    ac = container("search-api", aimage, ports=[("http", 8080)], env=[env("OPENSEARCH_URL", f"http://{oip}:9200")])
    _, _, apods, _ = app(s, "search-api", [ac], replicas=2, statuses=crashing("search-api", 5, since=2.9),
                         service=[("http", 80, "http")])
    crash_events(s, apods, aimage, 5, since=48)
    both_logs(s, apods, "search-api", f"""{{"level":"info","ts":"2026-11-20T08:56:40.101Z","caller":"cmd/main.go:41","msg":"search-api 5.0.2 starting"}}
{{"level":"info","ts":"2026-11-20T08:56:40.102Z","caller":"index/client.go:88","msg":"waiting for cluster","url":"http://{oip}:9200"}}
{{"level":"fatal","ts":"2026-11-20T08:57:10.104Z","caller":"cmd/main.go:57","msg":"search backend unavailable","error":"Get \\"http://{oip}:9200/_cluster/health\\": dial tcp {oip}:9200: i/o timeout"}}
""")
    s.expect["findings"] = [
        F("ImagePullBackOff", "Deployment", "opensearch", severity="critical", root_cause=["2.17.3-hardened"],
          evidence=["Deployment search/search-api"]),
        F("CrashLoopBackOff", "Deployment", "search-api", root_cause=["Deployment search/opensearch"], evidence=["i/o timeout"]),
    ]
    return s


@scenario
def s66():
    s = Scenario("66-cascade-headless-nxdomain-pending-broker", "events",
                 "the nats StatefulSet cannot schedule (requests 6 CPUs, nodes have 4), so headless Service nats has no ready address and its name does not resolve: the order-events consumer's `no such host` is a symptom, not a DNS outage")
    cluster(s)
    nc = container("nats", "docker.io/library/nats:2.10.22-alpine", ports=[("client", 4222), ("cluster", 6222), ("monitor", 8222)],
                   args=["--cluster_name", "events", "--jetstream"],
                   resources={"limits": {"memory": "8Gi"}, "requests": {"cpu": "6", "memory": "8Gi"}}, secure=False)
    labels = {"app": "nats"}
    tpl = template(labels, [nc])
    sts = s.add({"apiVersion": "apps/v1", "kind": "StatefulSet",
                 "metadata": s.meta("StatefulSet", "nats", created=ts(35), generation=1, labels=labels),
                 "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": tpl, "serviceName": "nats",
                          "podManagementPolicy": "Parallel",
                          "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                          "revisionHistoryLimit": 10,
                          "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}},
                 "status": {}})
    sts["_pods"] = []
    rev = "nats-" + h("natsrev", 10)
    t = copy.deepcopy(tpl)
    t["metadata"]["labels"].update({"controller-revision-hash": rev, "statefulset.kubernetes.io/pod-name": "nats-0",
                                    "apps.kubernetes.io/pod-index": "0"})
    t["spec"]["hostname"] = "nats-0"
    t["spec"]["subdomain"] = "nats"
    p = s.pod(sts, tpl=t, name="nats-0", scheduled=False, created=ts(35))
    why = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    unschedulable(p, why)
    s.scheduler_event("nats-0", why, when=ts(35), count=9, last=ts(2))
    s.log("nats-0", "nats", "")
    sts["status"] = {"observedGeneration": 1, "replicas": 1, "currentReplicas": 1, "updatedReplicas": 1,
                     "currentRevision": rev, "updateRevision": rev, "collisionCount": 0, "availableReplicas": 0}
    svc = s.service("nats", {"app": "nats"}, [("client", 4222, "client")], headless=True)
    s.endpoints(svc)
    cimage = "registry.example.com/events/order-events:2.3.0"
    cc = container("consumer", cimage, env=[env("NATS_URL", "nats://nats.events.svc.cluster.local:4222")])
    _, _, cpods, _ = app(s, "order-events", [cc], replicas=2, statuses=crashing("consumer", 8, since=1.4))
    crash_events(s, cpods, cimage, 8, since=34)
    both_logs(s, cpods, "consumer", """time=2026-11-20T08:58:48.300Z level=INFO msg="order-events consumer starting" stream=ORDERS
time=2026-11-20T08:58:48.318Z level=ERROR msg="nats connect failed" err="dial tcp: lookup nats.events.svc.cluster.local on 10.96.0.10:53: no such host"
time=2026-11-20T08:58:48.318Z level=ERROR msg="exiting" code=1
""")
    s.expect["findings"] = [
        F("Unschedulable", "StatefulSet", "nats", root_cause=["cpu"], evidence=["Deployment events/order-events"]),
        F("CrashLoopBackOff", "Deployment", "order-events", root_cause=["StatefulSet events/nats"], evidence=["no such host"]),
    ]
    return s


@scenario
def s67():
    s = Scenario("67-wrong-host-env-var", "catalog",
                 "catalog-api 2.0.0 crash-loops with ENOTFOUND memcached-0: its MEMCACHED_HOST names a host the namespace does not serve; the Service is memcached (a configuration error, not a DNS outage)")
    cluster(s)
    mc = container("memcached", "docker.io/library/memcached:1.6.32-alpine", ports=[("memcache", 11211)], args=["-m", "256"])
    app(s, "memcached", [mc], replicas=1, service=[("memcache", 11211, "memcache")])
    image = "registry.example.com/catalog/catalog-api:2.0.0"
    cont = container("catalog-api", image, ports=[("http", 3000)],
                     env=[env("NODE_ENV", "production"), env("MEMCACHED_HOST", "memcached-0"), env("MEMCACHED_PORT", "11211")],
                     readiness=http_probe("/ready", "http"))
    prev = dict(cont, image="registry.example.com/catalog/catalog-api:1.8.5",
                env=[env("NODE_ENV", "production"), env("CACHE_URL", "memcached:11211")])
    _, _, pods, _ = app(s, "catalog-api", [cont], replicas=2, prev=[prev], rollout=22,
                        statuses=crashing("catalog-api", 6, since=1.9), service=[("http", 80, "http")], progressing="deadline")
    crash_events(s, pods, image, 6, since=21.5)
    both_logs(s, pods, "catalog-api", """> catalog-api@2.0.0 start
> node server.js

catalog-api 2.0.0: connecting to cache memcached-0:11211
Error: getaddrinfo ENOTFOUND memcached-0
    at GetAddrInfoReqWrap.onlookupall [as oncomplete] (node:dns:120:26) {
  errno: -3008,
  code: 'ENOTFOUND',
  syscall: 'getaddrinfo',
  hostname: 'memcached-0'
}

Node.js v22.11.0
""")
    s.expect["findings"] = [
        F("CrashLoopBackOff", "Deployment", "catalog-api", severity="critical",
          root_cause=["MEMCACHED_HOST", "memcached-0", "Service catalog/memcached"], evidence=["ENOTFOUND memcached-0"],
          fix={"target": {"kind": "Deployment", "name": "catalog-api"},
               "patch": [T(f"{C0}/name", "catalog-api"), T(f"{C0}/env/1/value", "memcached-0"),
                         R(f"{C0}/env/1/value", "memcached")],
               "dry_run": "passed"}),
    ]
    s.expect["must_not"] = [NOT("ServiceNoEndpoints", name="memcached")]
    return s


@scenario
def s68():
    s = Scenario("68-wrong-host-configmap-key", "fulfilment",
                 "pick-service fails at start with `lookup rabbit-mq … no such host`: ConfigMap pick-config key amqp.url names host rabbit-mq, the namespace serves RabbitMQ as Service rabbitmq")
    cluster(s)
    rc = container("rabbitmq", "docker.io/library/rabbitmq:3.13.7-management", ports=[("amqp", 5672), ("management", 15672)], secure=False,
                   resources={"limits": {"memory": "1Gi"}, "requests": {"cpu": "200m", "memory": "512Mi"}})
    app(s, "rabbitmq", [rc], replicas=1, service=[("amqp", 5672, "amqp"), ("management", 15672, "management")])
    s.configmap("pick-config", {"amqp.url": "amqp://pick@rabbit-mq.fulfilment.svc:5672/fulfilment",
                                "queue": "picks", "prefetch": "20"}, created=ts(25))
    image = "registry.example.com/fulfilment/pick-service:1.6.0"
    cont = container("pick-service", image, ports=[("http", 8080)],
                     env=[env_cm("AMQP_URL", "pick-config", "amqp.url"), env_cm("QUEUE", "pick-config", "queue"),
                          env_secret("AMQP_PASSWORD", "pick-amqp", "password")])
    s.secret("pick-amqp", {"password": "not-a-real-password"})
    _, _, pods, _ = app(s, "pick-service", [cont], replicas=2, statuses=crashing("pick-service", 5, since=2.2),
                        service=[("http", 80, "http")], created_days=0)
    crash_events(s, pods, image, 5, since=24)
    both_logs(s, pods, "pick-service", """2026/11/20 08:57:58 pick-service 1.6.0 (go1.23.3) starting
2026/11/20 08:57:58 consumer: queue=picks prefetch=20
2026/11/20 08:57:58 amqp: dial tcp: lookup rabbit-mq.fulfilment.svc on 10.96.0.10:53: no such host
""")
    s.expect["findings"] = [
        F("CrashLoopBackOff", "Deployment", "pick-service", severity="critical",
          root_cause=["pick-config", "amqp.url", "rabbit-mq", "rabbitmq"], evidence=["no such host"],
          fix={"target": {"kind": "ConfigMap", "name": "pick-config"},
               "patch": [T("/data/amqp.url", "amqp://pick@rabbit-mq.fulfilment.svc:5672/fulfilment"),
                         R("/data/amqp.url", "amqp://pick@rabbitmq.fulfilment.svc:5672/fulfilment")]}),
    ]
    return s


# ============================================================ class 4: no alarms from history


@scenario
def s69():
    s = Scenario("69-now-failing-beside-old-evictions", "media",
                 "thumbnailer 3.2.0 crash-loops now (its model file /models/saliency-v3.onnx is not in the image); the Evicted pods of transcoder's previous ReplicaSet (disk pressure four days ago) are history, not a failure")
    cluster(s)
    tc = container("transcoder", "registry.example.com/media/transcoder:8.1.0", ports=[("http", 8080)],
                   resources={"limits": {"memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}})
    prev = dict(tc, image="registry.example.com/media/transcoder:8.0.3")
    d, rs, tpods, _ = app(s, "transcoder", [tc], replicas=2, prev=[prev], rollout=60 * 24 * 3, service=[("http", 80, "http")],
                          events=False)
    old_rs = d["_rs"][0]
    for i, node in enumerate(["worker-2", "worker-3", "worker-2"]):
        p = s.pod(old_rs, node=node, statuses=[terminated("Error", 137, ts(days=6), ts(days=4, hours=2))], phase="Failed",
                  name=f"{old_rs['metadata']['name']}-{h('ev' + str(i), 5)}", created=ts(days=6),
                  extra_status={"reason": "Evicted",
                                "message": "The node was low on resource: ephemeral-storage. Threshold quantity: 4281968494, available: 3917520Ki. Container transcoder was using 9876540Ki, request is 0, has larger consumption of ephemeral-storage. "})
        p["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                                      "lastTransitionTime": ts(days=4, hours=2), "reason": "TerminationByKubelet",
                                      "message": "The node was low on resource: ephemeral-storage."}] + [
            c for c in p["status"]["conditions"] if c["type"] != "Ready"] + [
            {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": ts(days=4, hours=2), "reason": "PodFailed"}]
        s.log(p["metadata"]["name"], "transcoder", "")
    s.finish_deployment(d)
    ready_logs(s, tpods, "transcoder", '{"level":"info","msg":"transcoded","job":"a81f","ms":4120}\n')
    image = "registry.example.com/media/thumbnailer:3.2.0"
    cont = container("thumbnailer", image, env=[env("MODEL_PATH", "/models/saliency-v3.onnx")])
    _, _, pods, _ = app(s, "thumbnailer", [cont], replicas=1, statuses=crashing("thumbnailer", 6, since=1.0))
    crash_events(s, pods, image, 6, since=16)
    both_logs(s, pods, "thumbnailer", """INFO:thumbnailer:thumbnailer 3.2.0 starting, model=/models/saliency-v3.onnx
Traceback (most recent call last):
  File "/app/thumbnailer/main.py", line 12, in <module>
    with open(os.environ["MODEL_PATH"], "rb") as f:
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
FileNotFoundError: [Errno 2] No such file or directory: '/models/saliency-v3.onnx'
""")
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "thumbnailer", severity="critical",
                              root_cause=["saliency-v3.onnx"])]
    s.expect["must_not"] = [dict(NOT("Evicted", name="transcoder"), severity="error"),
                            dict(NOT("Evicted", name="transcoder"), severity="critical"),
                            NOT("ContainerFailing", name="transcoder")]
    return s


@scenario
def s70():
    s = Scenario("70-now-failing-beside-recovered-restarts", "payments",
                 "fraud-scorer cannot start now (Secret fraud-model-key is missing); ledger restarted four times three days ago (liveness kills during a database failover) and has run Ready since")
    cluster(s)
    lc = container("ledger", "registry.example.com/payments/ledger:6.4.1", ports=[("http", 8080)],
                   readiness=http_probe("/ready", "http"), liveness=http_probe("/live", "http", initial=20))

    def st(i):
        return [running(ts(days=3, hours=1, seconds=-40), restarts=4,
                        last=last_terminated("Error", 137, ts(days=3, hours=1, seconds=90), ts(days=3, hours=1)))]
    _, _, lpods, _ = app(s, "ledger", [lc], replicas=2, statuses=st, service=[("http", 80, "http")], created_days=20)
    ready_logs(s, lpods, "ledger", '{"level":"info","msg":"GET /ready","status":200,"ms":1}\n')
    for p in lpods:
        s.log(p["metadata"]["name"], "ledger", '{"level":"error","msg":"database unavailable","err":"FATAL: the database system is in recovery mode (SQLSTATE 57P03)"}\n', previous=True)
    image = "registry.example.com/payments/fraud-scorer:1.3.0"
    cont = container("fraud-scorer", image, ports=[("http", 9000)],
                     env=[env_secret("MODEL_KEY", "fraud-model-key", "key")])
    _, _, fpods, _ = app(s, "fraud-scorer", [cont], replicas=1, created_days=0,
                         statuses=lambda i: [waiting("CreateContainerConfigError", 'secret "fraud-model-key" not found')])
    for p in fpods:
        kubelet_events(s, p, ("Pulled", f'Container image "{image}" already present on machine', "Normal", 40, 9, 0.3),
                       ("Failed", 'Error: secret "fraud-model-key" not found', "Warning", 40, 9, 0.3))
        s.log(p["metadata"]["name"], "fraud-scorer",
              f'Request log error: container "fraud-scorer" in pod "{p["metadata"]["name"]}" is waiting to start: CreateContainerConfigError')
    s.expect["findings"] = [F("CreateContainerConfigError", "Deployment", "fraud-scorer", root_cause=["fraud-model-key"])]
    s.expect["must_not"] = [dict(NOT("ContainerFailing", name="ledger"), severity="error"),
                            dict(NOT("ProbeFailing", name="ledger"), severity="error"),
                            NOT("CrashLoopBackOff", name="ledger")]
    return s


@scenario
def s71():
    s = Scenario("71-now-failing-beside-stale-warnings", "geo",
                 "tile-server's readiness probe fails now (it listens on 8081, the probe asks 8080); router's Warning events (BackOff, Unhealthy) are from a crash loop that ended 40 minutes ago, Ready since")
    cluster(s)
    rc = container("router", "registry.example.com/geo/router:2.9.0", ports=[("http", 8080)],
                   readiness=http_probe("/healthz", "http"), liveness=http_probe("/healthz", "http", initial=15))

    def rst(i):
        return [running(ts(41), restarts=5, last=last_terminated("Error", 137, ts(43), ts(41.2)))]
    _, _, rpods, _ = app(s, "router", [rc], replicas=2, statuses=rst, service=[("http", 80, "http")])
    for p in rpods:
        pn = p["metadata"]["name"]
        kubelet_events(s, p,
                       ("Unhealthy", "Liveness probe failed: Get \"http://%s:8080/healthz\": dial tcp %s:8080: connect: connection refused" % (p["status"]["podIP"], p["status"]["podIP"]), "Warning", 15, 55, 41.3),
                       ("Killing", "Container router failed liveness probe, will be restarted", "Normal", 5, 55, 41.3),
                       ("BackOff", f"Back-off restarting failed container router in pod {pn}_geo({p['metadata']['uid']})", "Warning", 12, 54, 41.5))
        s.log(pn, "router", "2026-11-20T08:19:30Z INF router 2.9.0 listening on :8080\n2026-11-20T08:59:58Z INF GET /route 200 12ms\n")
        s.log(pn, "router", "2026-11-20T08:17:02Z INF router 2.9.0 loading graph europe-latest.osm.pbf\n", previous=True)
    tc = container("tile-server", "registry.example.com/geo/tile-server:1.1.0", ports=[("http", 8080)],
                   readiness=http_probe("/ready", "http"))
    _, _, tpods, _ = app(s, "tile-server", [tc], replicas=2, created_days=0,
                         statuses=lambda i: [running(ts(12), ready=False)], service=[("http", 80, "http")])
    for p in tpods:
        p["metadata"]["creationTimestamp"] = ts(12)
        kubelet_events(s, p, ("Unhealthy", 'Readiness probe failed: Get "http://%s:8080/ready": dial tcp %s:8080: connect: connection refused' % (p["status"]["podIP"], p["status"]["podIP"]), "Warning", 70, 11.8, 0.1))
        s.log(p["metadata"]["name"], "tile-server", "2026-11-20T08:48:20Z INFO tile-server 1.1.0 serving on 0.0.0.0:8081\n")
    s.expect["findings"] = [F("ProbeFailing", "Deployment", "tile-server", evidence=["Readiness probe failed"])]
    s.expect["must_not"] = [dict(NOT("ProbeFailing", name="router"), severity="error"),
                            dict(NOT("ProbeFailing", name="router"), severity="critical"),
                            NOT("CrashLoopBackOff", name="router")]
    return s


@scenario
def s72():
    s = Scenario("72-now-failing-beside-noisy-info-logs", "accounts",
                 "signup crash-loops (exit 1: SMTP_FROM is not set); profile's log is INFO/WARN lines that merely mention errors and exceptions (a zero error count, registered exception handlers)")
    cluster(s)
    pc = container("profile", "registry.example.com/accounts/profile:4.0.2", ports=[("http", 8080)], readiness=http_probe("/actuator/health", "http"))
    _, _, ppods, _ = app(s, "profile", [pc], replicas=2, service=[("http", 80, "http")])
    ready_logs(s, ppods, "profile", """2026-11-11T09:00:21.410Z  INFO 1 --- [profile] [           main] o.s.b.w.e.tomcat.TomcatWebServer         : Tomcat started on port 8080 (http) with context path '/'
2026-11-11T09:00:21.433Z  INFO 1 --- [profile] [           main] c.e.a.p.web.ErrorHandlingConfig          : Registered exception handler for ProfileNotFoundException -> 404
2026-11-11T09:00:21.434Z  INFO 1 --- [profile] [           main] c.e.a.p.web.ErrorHandlingConfig          : Registered exception handler for ConstraintViolationException -> 400
2026-11-20T08:45:00.002Z  INFO 1 --- [profile] [   scheduling-1] c.e.a.profile.jobs.AvatarSweep           : avatar sweep done: scanned=18211 removed=43 errors=0
2026-11-20T08:52:14.771Z  WARN 1 --- [profile] [nio-8080-exec-7] c.e.a.p.web.ErrorHandlingConfig          : Resolved [com.example.accounts.profile.ProfileNotFoundException: profile 8812 not found]
2026-11-20T09:00:00.003Z  INFO 1 --- [profile] [   scheduling-1] c.e.a.profile.jobs.AvatarSweep           : avatar sweep done: scanned=18214 removed=0 errors=0
""")
    image = "registry.example.com/accounts/signup:2.2.0"
    cont = container("signup", image, ports=[("http", 8000)], env=[env("SMTP_HOST", "smtp.example.com")])
    _, _, spods, _ = app(s, "signup", [cont], replicas=1, statuses=crashing("signup", 5, since=0.9), service=[("http", 80, "http")])
    crash_events(s, spods, image, 5, since=12)
    both_logs(s, spods, "signup", """time="2026-11-20T08:59:15Z" level=info msg="signup 2.2.0 starting"
time="2026-11-20T08:59:15Z" level=fatal msg="invalid configuration: SMTP_FROM is not set"
""")
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "signup", severity="critical", root_cause=["SMTP_FROM"])]
    s.expect["must_not"] = [NOT("LogErrors", name="profile")]
    return s


# ============================================================ healthy but noisy


@scenario
def s73():
    s = Scenario("73-healthy-noisy-info-logs", "ledger",
                 "healthy: every pod Ready; the logs are INFO/WARN lines that merely contain error or exception (error counters at zero, exception mappers registered, a retried request that succeeded)")
    cluster(s)
    gc = container("gateway", "registry.example.com/ledger/gateway:1.30.2", ports=[("http", 8080)], readiness=http_probe("/ready", "http"))
    _, _, gpods, _ = app(s, "gateway", [gc], replicas=2, service=[("http", 80, "http")])
    ready_logs(s, gpods, "gateway", """{"level":"info","ts":"2026-11-20T08:55:00.001Z","msg":"upstream stats","upstream":"ledger-api","requests":48211,"errors":0,"error_rate":0}
{"level":"info","ts":"2026-11-20T08:56:00.001Z","msg":"registered error page","status":502,"path":"/errors/502.html"}
{"level":"warn","ts":"2026-11-20T08:57:31.410Z","msg":"retrying request after error","attempt":1,"error":"upstream reset before headers","result":"ok on retry"}
{"level":"info","ts":"2026-11-20T09:00:00.001Z","msg":"upstream stats","upstream":"ledger-api","requests":48907,"errors":0,"error_rate":0}
""")
    ac = container("ledger-api", "registry.example.com/ledger/ledger-api:7.2.0", ports=[("http", 8080)], readiness=http_probe("/actuator/health/readiness", "http"))
    _, _, apods, _ = app(s, "ledger-api", [ac], replicas=2, service=[("http", 80, "http")])
    ready_logs(s, apods, "ledger-api", """2026-11-11T09:00:11.021Z  INFO 1 --- [ledger-api] [           main] o.s.w.s.m.m.a.ExceptionHandlerExceptionResolver : Detected @ExceptionHandler methods in globalExceptionHandler
2026-11-11T09:00:11.388Z  INFO 1 --- [ledger-api] [           main] c.e.l.api.errors.ErrorCatalog             : Loaded 37 error codes (LEDGER-0001..LEDGER-0037)
2026-11-20T08:58:02.117Z DEBUG 1 --- [ledger-api] [nio-8080-exec-3] c.e.l.api.web.GlobalExceptionHandler      : Mapping InsufficientFundsException to 422
2026-11-20T08:59:59.902Z  INFO 1 --- [ledger-api] [   scheduling-1] c.e.l.api.jobs.Reconciler                 : reconciliation finished: 1204 entries, 0 errors, 0 exceptions
""")
    wc = container("exporter", "registry.example.com/ledger/metrics-exporter:0.9.1", ports=[("metrics", 9102)])
    _, _, wpods, _ = app(s, "metrics-exporter", [wc], replicas=1, service=[("metrics", 9102, "metrics")])
    ready_logs(s, wpods, "exporter", """level=info ts=2026-11-20T08:50:00.004Z caller=collector.go:91 msg="scrape done" collector=ledger errors=0 duration_seconds=0.211
level=warn ts=2026-11-20T08:55:00.009Z caller=collector.go:97 msg="slow scrape" collector=ledger duration_seconds=2.91 errors=0
level=info ts=2026-11-20T09:00:00.004Z caller=collector.go:91 msg="scrape done" collector=ledger errors=0 duration_seconds=0.198
""")
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("LogErrors")]
    return s


@scenario
def s74():
    s = Scenario("74-healthy-evicted-old-replicaset", "reports",
                 "healthy: the Evicted pods of report-builder's previous ReplicaSet (memory pressure two days ago) are kept as Failed pods; the current revision has run Ready since")
    cluster(s)
    rc = container("report-builder", "registry.example.com/reports/report-builder:2.4.0", ports=[("http", 8080)],
                   resources={"limits": {"memory": "3Gi"}, "requests": {"cpu": "500m", "memory": "2Gi"}},
                   readiness=http_probe("/ready", "http"))
    prev = dict(rc, image="registry.example.com/reports/report-builder:2.3.9",
                resources={"limits": {"memory": "3Gi"}, "requests": {"cpu": "500m", "memory": "512Mi"}})
    d, rs, pods, _ = app(s, "report-builder", [rc], replicas=2, prev=[prev], rollout=60 * 40, service=[("http", 80, "http")],
                         events=False)
    old_rs = d["_rs"][0]
    for i, node in enumerate(["worker-1", "worker-3"]):
        p = s.pod(old_rs, node=node, statuses=[terminated("Error", 137, ts(days=4), ts(days=2, hours=3))], phase="Failed",
                  name=f"{old_rs['metadata']['name']}-{h('mp' + str(i), 5)}", created=ts(days=4),
                  extra_status={"reason": "Evicted",
                                "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91236Ki. Container report-builder was using 2811028Ki, request is 512Mi, has larger consumption of memory. "})
        s.log(p["metadata"]["name"], "report-builder", "")
    s.finish_deployment(d)
    ready_logs(s, pods, "report-builder", '{"level":"info","msg":"report built","report":"monthly-usage","ms":8812}\n')
    s.expect["healthy"] = True
    s.expect["must_not"] = [dict(NOT("Evicted"), severity="error"), dict(NOT("Evicted"), severity="critical"),
                            NOT("ContainerFailing"), NOT("OOMKilled")]
    return s


@scenario
def s75():
    s = Scenario("75-healthy-job-retried-then-completed", "etl",
                 "healthy: nightly-export's last run failed once (a pod exited 1 on a network blip) and its retry completed; the CronJob's earlier runs completed too")
    cluster(s)
    cj = s.add({"apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": s.meta("CronJob", "nightly-export", created=ts(days=60), generation=1),
                "spec": {"schedule": "30 2 * * *", "concurrencyPolicy": "Forbid", "suspend": False,
                         "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                         "jobTemplate": {"metadata": {"creationTimestamp": None}, "spec": {"backoffLimit": 3, "template": template(
                             {"app": "nightly-export"}, [container("export", "registry.example.com/etl/export:5.1.0", args=["--target", "s3://exports/nightly"])],
                             restart="Never")}}},
                "status": {"lastScheduleTime": "2026-11-20T02:30:00Z", "lastSuccessfulTime": "2026-11-20T02:41:19Z"}})
    tpl = cj["spec"]["jobTemplate"]["spec"]["template"]
    for day, sched in ((19, "2026-11-19T02:30:00Z"), (20, "2026-11-20T02:30:00Z")):
        name = f"nightly-export-{29_380_000 + day * 1440}"
        done = sched.replace("02:30:00", "02:41:19") if day == 20 else sched.replace("02:30:00", "02:38:02")
        failed = 1 if day == 20 else 0
        j = job(s, name, tpl, dict({"conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": done, "lastTransitionTime": done,
             "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
            {"type": "Complete", "status": "True", "lastProbeTime": done, "lastTransitionTime": done,
             "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}],
            "startTime": sched, "completionTime": done, "succeeded": 1, "terminating": 0, "ready": 0,
            "uncountedTerminatedPods": {}}, **({"failed": failed} if failed else {})), created=sched, backoff=3, owner=cj)
        cond_done = lambda reason, at: [
            {"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": None, "lastTransitionTime": at},
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": sched, "reason": reason},
            {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": at, "reason": reason},
            {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": at, "reason": reason},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": sched}]
        if failed:
            fat = sched.replace("02:30:00", "02:31:40")
            fp = s.pod(j, node="worker-2", statuses=[terminated("Error", 1, sched.replace(":00Z", ":04Z"), fat)], phase="Failed",
                       name=f"{name}-{h(name + 'f', 5)}", created=sched, conditions=cond_done("PodFailed", fat))
            s.log(fp["metadata"]["name"], "export", """2026-11-20T02:30:05Z INFO export 5.1.0: exporting 2026-11-19
2026-11-20T02:31:39Z ERROR upload part 14 failed: RequestError: send request failed
caused by: Put "https://s3.eu-central-1.amazonaws.com/exports/nightly/2026-11-19.parquet?partNumber=14": read tcp 10.244.1.19:41874->52.219.170.61:443: read: connection reset by peer
""")
            s.event("Job", name, "SuccessfulCreate", f"Created pod: {fp['metadata']['name']}", first=sched, component="job-controller")
        start = sched.replace("02:30:00", "02:31:52") if failed else sched
        p = s.pod(j, node="worker-1", statuses=[terminated("Completed", 0, start, done)], phase="Succeeded",
                  name=f"{name}-{h(name, 5)}", created=start, conditions=cond_done("PodCompleted", done))
        s.log(p["metadata"]["name"], "export", f"export 5.1.0: wrote s3://exports/nightly/{sched[:10]}.parquet (1.8 GiB)\n")
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("JobFailed"), NOT("CronJobLastRunFailed"), NOT("ContainerFailing"), NOT("CrashLoopBackOff")]
    return s


@scenario
def s76():
    s = Scenario("76-healthy-recovered-crash-loop-stale-events", "maps",
                 "healthy: geocoder crash-looped 35-50 minutes ago while its Elasticsearch restarted, and has run Ready for 34 minutes; its BackOff and Unhealthy Warning events are older than its current state")
    cluster(s)
    ec = container("elasticsearch", "docker.elastic.co/elasticsearch/elasticsearch:8.15.3", ports=[("http", 9200)], secure=False,
                   resources={"limits": {"memory": "4Gi"}, "requests": {"cpu": "1", "memory": "4Gi"}})
    _, _, epods, _ = app(s, "elasticsearch", [ec], replicas=1, statuses=lambda i: [running(ts(52), restarts=1,
                         last=last_terminated("Error", 143, ts(days=7), ts(52.5)))], service=[("http", 9200, "http")])
    ready_logs(s, epods, "elasticsearch", '{"@timestamp":"2026-11-20T08:09:01.221Z","log.level": "INFO","message":"started", "ecs.version": "1.2.0","service.name":"ES_ECS"}\n')
    gc = container("geocoder", "registry.example.com/maps/geocoder:3.3.1", ports=[("http", 8080)],
                   readiness=http_probe("/ready", "http"), liveness=http_probe("/live", "http", initial=10))

    def st(i):
        return [running(ts(34 + i * 0.3), restarts=6 + i,
                        last=last_terminated("Error", 1, ts(35.5 + i * 0.3), ts(35 + i * 0.3)))]
    _, _, gpods, _ = app(s, "geocoder", [gc], replicas=2, statuses=st, service=[("http", 80, "http")])
    eip = svc_ip("maps", "elasticsearch")
    for p in gpods:
        pn = p["metadata"]["name"]
        kubelet_events(s, p,
                       ("BackOff", f"Back-off restarting failed container geocoder in pod {pn}_maps({p['metadata']['uid']})", "Warning", 17, 50, 35.2),
                       ("Unhealthy", 'Readiness probe failed: HTTP probe failed with statuscode: 503', "Warning", 22, 50, 34.5))
        s.log(pn, "geocoder", "2026-11-20T08:26:14Z INFO geocoder 3.3.1 ready: index places-2026.11 (41.2M docs)\n2026-11-20T09:00:01Z INFO GET /v1/search 200 31ms\n")
        s.log(pn, "geocoder", f"2026-11-20T08:24:41Z INFO geocoder 3.3.1 starting\n2026-11-20T08:25:11Z ERROR elasticsearch not reachable: dial tcp {eip}:9200: connect: connection refused\n", previous=True)
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("CrashLoopBackOff"), dict(NOT("ProbeFailing"), severity="error"),
                            dict(NOT("ContainerFailing"), severity="error"), NOT("ServiceNoEndpoints")]
    return s


@scenario
def s77():
    s = Scenario("77-healthy-node-shutdown-leftovers", "web",
                 "healthy: worker-3 was rebooted for a kernel update yesterday; the pods the graceful node shutdown terminated are left as Failed, their replacements have run Ready since")
    cluster(s)
    fc = container("frontend", "registry.example.com/web/frontend:9.12.0", ports=[("http", 8080)], readiness=http_probe("/", "http"))
    d, rs, pods, _ = app(s, "frontend", [fc], replicas=3, service=[("http", 80, "http")])
    shut = ts(hours=20)
    for i in range(2):
        p = s.pod(rs, node="worker-3", statuses=[terminated("Completed", 0, ts(days=9), shut)], phase="Failed",
                  name=f"{rs['metadata']['name']}-{h('ns' + str(i), 5)}", created=ts(days=9),
                  extra_status={"reason": "Terminated", "message": "Pod was terminated in response to imminent node shutdown."})
        p["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True", "lastProbeTime": None, "lastTransitionTime": shut,
                                      "reason": "TerminationByKubelet", "message": "Pod was terminated in response to imminent node shutdown."}] + [
            dict(c, status="False", lastTransitionTime=shut) if c["type"] in ("Ready", "ContainersReady") else c
            for c in p["status"]["conditions"]]
        s.log(p["metadata"]["name"], "frontend", "")
    s.finish_deployment(d)
    ready_logs(s, pods, "frontend", '10.244.0.1 - - [20/Nov/2026:09:00:02 +0000] "GET / HTTP/1.1" 200 5120 "-" "kube-probe/1.31"\n')
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("ContainerFailing"), NOT("CrashLoopBackOff"), NOT("Evicted")]
    return s


@scenario
def s78():
    s = Scenario("78-healthy-statefulset-past-mount-and-scheduling-warnings", "queue",
                 "healthy: rabbitmq-1 waited for its volume to attach and for a node after a node drain 50 minutes ago (FailedScheduling, FailedAttachVolume, FailedMount Warning events); it has run Ready for 44 minutes")
    cluster(s)
    rc = container("rabbitmq", "docker.io/library/rabbitmq:3.13.7-management", ports=[("amqp", 5672), ("management", 15672)],
                   mounts=[{"name": "data", "mountPath": "/var/lib/rabbitmq"}], readiness=tcp_probe("amqp"), secure=False,
                   resources={"limits": {"memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}})
    sts, pods = statefulset(s, "rabbitmq", rc, 2, lambda i: [running(ts(44) if i == 1 else ts(days=12))], "rabbitmq", claim="20Gi")
    p = pods[1]
    p["metadata"]["creationTimestamp"] = ts(51)
    pv = f"pvc-{uid('pvc', s.ns, 'rabbitmq', '1')}"
    s.scheduler_event("rabbitmq-1", "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.", when=ts(51), count=3, last=ts(49))
    s.scheduler_event("rabbitmq-1", f"Successfully assigned queue/rabbitmq-1 to {p['spec']['nodeName']}", when=ts(48.5))
    s.event("Pod", "rabbitmq-1", "FailedAttachVolume", f'Multi-Attach error for volume "{pv}" Volume is already exclusively attached to one node and can\'t be attached to another',
            type_="Warning", first=ts(48.4), last=ts(46), count=4, component="attachdetach-controller")
    s.event("Pod", "rabbitmq-1", "FailedMount", "MountVolume.WaitForAttach failed for volume \"%s\" : volume %s has GET error for volume attachment csi-3f1b2c: volumeattachments.storage.k8s.io \"csi-3f1b2c\" is forbidden: User \"system:node:%s\" cannot get resource \"volumeattachments\" in API group \"storage.k8s.io\" at the cluster scope: no relationship found between node '%s' and this object" % (pv, pv, p["spec"]["nodeName"], p["spec"]["nodeName"]),
            type_="Warning", first=ts(47.5), last=ts(45.5), count=2, component="kubelet", host=p["spec"]["nodeName"])
    s.event("Pod", "rabbitmq-1", "SuccessfulAttachVolume", f'AttachVolume.Attach succeeded for volume "{pv}"', first=ts(45.2), component="attachdetach-controller")
    svc = s.service("rabbitmq", {"app": "rabbitmq"}, [("amqp", 5672, "amqp"), ("management", 15672, "management")], headless=True)
    s.endpoints(svc, pods)
    ready_logs(s, pods, "rabbitmq", "2026-11-20 08:16:41.104211+00:00 [info] <0.712.0> Server startup complete; 5 plugins started.\n")
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("Unschedulable"), NOT("PodPending"), NOT("MissingConfigReference"), NOT("PVCPending")]
    return s


@scenario
def s79():
    s = Scenario("79-cascade-upstream-not-ready", "shop",
                 "inventory 5.0.0 moved its health endpoint to /health/ready but its readiness probe still asks /readyz (404), so Service inventory has no ready endpoint; order-sync crash-loops on connection refused to it: a symptom")
    cluster(s)
    ic = container("inventory", "registry.example.com/shop/inventory:5.0.0", ports=[("http", 8080)],
                   readiness=http_probe("/readyz", "http", period=5))
    _, _, ipods, _ = app(s, "inventory", [ic], replicas=2, created_days=0,
                         statuses=lambda i: [running(ts(31), ready=False)], service=[("http", 80, "http")])
    for p in ipods:
        p["metadata"]["creationTimestamp"] = ts(31)
        kubelet_events(s, p, ("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404", "Warning", 370, 30.8, 0.1))
        s.log(p["metadata"]["name"], "inventory", """2026-11-20T08:29:20.112Z INFO  inventory 5.0.0 started on :8080
2026-11-20T08:59:58.015Z INFO  GET /health/ready 200 1ms
2026-11-20T09:00:09.871Z WARN  GET /readyz 404 not found
""")
    iip = svc_ip("shop", "inventory")
    image = "registry.example.com/shop/order-sync:2.7.1"
    oc = container("order-sync", image, env=[env("INVENTORY_URL", "http://inventory.shop.svc.cluster.local")])
    _, _, opods, _ = app(s, "order-sync", [oc], replicas=1, statuses=crashing("order-sync", 7, since=1.7))
    crash_events(s, opods, image, 7, since=30)
    both_logs(s, opods, "order-sync", f"""2026-11-20 08:58:29,901 INFO order_sync.main: order-sync 2.7.1 starting
2026-11-20 08:58:30,013 ERROR order_sync.main: inventory check failed: HTTPConnectionPool(host='inventory.shop.svc.cluster.local', port=80): Max retries exceeded with url: /v1/stock (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f3a1c2d9e50>: Failed to establish a new connection: [Errno 111] Connection refused'))
urllib3.exceptions.NewConnectionError: <urllib3.connection.HTTPConnection object at 0x7f3a1c2d9e50>: Failed to establish a new connection: [Errno 111] Connection refused
""")
    s.expect["findings"] = [
        F("ProbeFailing", "Deployment", "inventory", severity="critical", evidence=["404", "Deployment shop/order-sync"]),
        F("CrashLoopBackOff", "Deployment", "order-sync", root_cause=["Deployment shop/inventory"], evidence=["Connection refused"]),
    ]
    return s


@scenario
def s80():
    s = Scenario("80-healthy-operator-klog-noise", "cert-manager",
                 "healthy: cert-manager's controller logs klog INFO lines about errors=0 and W-level optimistic-lock conflicts it retries (normal controller noise); the webhook restarted once six days ago and has been Ready since")
    cluster(s)
    cc = container("cert-manager-controller", "quay.io/jetstack/cert-manager-controller:v1.16.1", ports=[("http-metrics", 9402)],
                   args=["--v=2", "--cluster-resource-namespace=$(POD_NAMESPACE)", "--leader-election-namespace=kube-system"])
    _, _, cpods, _ = app(s, "cert-manager", [cc], replicas=1, created_days=40)
    ready_logs(s, cpods, "cert-manager-controller", """I1120 08:59:01.120734       1 controller.go:162] "re-queuing item due to optimistic locking on resource" logger="cert-manager.controller.certificates-trigger" key="shop/storefront-tls" error="Operation cannot be fulfilled on certificates.cert-manager.io \\"storefront-tls\\": the object has been modified; please apply your changes to the latest version and try again"
I1120 08:59:01.198211       1 conditions.go:203] "Setting lastTransitionTime for Certificate condition" logger="cert-manager" certificate="shop/storefront-tls" condition="Ready" time="2026-11-20 08:59:01.198203 +0000 UTC m=+3456001.10"
I1120 09:00:00.000412       1 metrics.go:121] "collected certificate expiry metrics" logger="cert-manager.metrics" certificates=14 errors=0
""")
    wc = container("cert-manager-webhook", "quay.io/jetstack/cert-manager-webhook:v1.16.1", ports=[("https", 10250), ("healthcheck", 6080)],
                   readiness=http_probe("/healthz", "healthcheck"), liveness=http_probe("/livez", "healthcheck", initial=60))

    def st(i):
        return [running(ts(days=6, hours=4), restarts=1, last=last_terminated("Error", 1, ts(days=6, hours=4, seconds=70), ts(days=6, hours=4, seconds=20)))]
    _, _, wpods, _ = app(s, "cert-manager-webhook", [wc], replicas=1, statuses=st, created_days=40,
                         service=[("https", 443, "https")])
    ready_logs(s, wpods, "cert-manager-webhook", """I1114 04:00:31.877141       1 server.go:198] "listening for secure connections" logger="cert-manager.webhook" address=":10250"
I1114 04:00:31.877201       1 server.go:262] "registered pprof handlers" logger="cert-manager.webhook"
""")
    for p in wpods:
        s.log(p["metadata"]["name"], "cert-manager-webhook", """E1114 03:59:44.101232       1 dynamic_source.go:221] "Failed to generate serving certificate, retrying..." err="failed verifying CA keypair: tls: failed to find any PEM data in certificate input" logger="cert-manager.webhook.webhook"
""", previous=True)
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("LogErrors"), NOT("CrashLoopBackOff"), dict(NOT("ContainerFailing"), severity="error")]
    return s
