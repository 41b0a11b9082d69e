# Issue 20, class 3: common failures that have a fix of their own (scenarios 49-62).
# Runs in scenarios.py's namespace (`@scenario`, `F`, `T`, `R`, `A`, `NOT`, `app`, …).
import json as _json

C1 = "/spec/template/spec/containers/1"
PS = "/spec/template/spec"


def _arch_node(s, name, arch):
    n = s.node(name, labels={"kubernetes.io/arch": arch, "beta.kubernetes.io/arch": arch,
                             "node.kubernetes.io/instance-type": "m7g.xlarge" if arch == "arm64" else "m6i.xlarge"})
    n["status"]["nodeInfo"]["architecture"] = arch
    return n


def _probe_kill_events(s, p, cname, image, probe_msg, kills, since, kind="liveness"):
    kubelet_events(s, p,
                   ("Unhealthy", probe_msg, "Warning", kills * 3, since, 0.9),
                   ("Killing", f"Container {cname} failed {kind} probe, will be restarted", "Normal", kills, since - 0.1, 0.8),
                   ("Pulled", f'Container image "{image}" already present on machine', "Normal", kills + 1, since + 1, 0.7),
                   ("Created", f"Created container: {cname}", "Normal", kills + 1, since + 1, 0.7),
                   ("Started", f"Started container {cname}", "Normal", kills + 1, since + 1, 0.7))


# ------------------------------------------------------------ liveness vs slow start

@scenario
def s49():
    s = Scenario("49-liveness-kills-slow-spring-start", "ledger",
                 "revision 7 of ledger added a liveness probe (initialDelaySeconds 30, period 10, failureThreshold 3: 60s) but the app needs about 143s to load its index and start (revision 6's pods log `Started LedgerApplication in 142.6 seconds`): the kubelet kills every new pod before it is up")
    cluster(s)
    image = "registry.example.com/ledger/ledger:4.2.0"
    live = http_probe("/actuator/health/liveness", "http", initial=30, period=10)
    cont = container("ledger", image, ports=[("http", 8080)],
                     env=[env("JAVA_TOOL_OPTIONS", "-XX:MaxRAMPercentage=75")],
                     resources={"limits": {"memory": "3Gi"}, "requests": {"cpu": "1", "memory": "3Gi"}},
                     readiness=http_probe("/actuator/health/readiness", "http", initial=20, period=5),
                     liveness=live)
    prev = copy.deepcopy(cont)
    prev["image"] = "registry.example.com/ledger/ledger:4.1.3"
    del prev["livenessProbe"]
    kills = 6

    def st(i):
        return [running(ts(0.6), ready=False, restarts=kills,
                        last=last_terminated("Error", 143, ts(1.7), ts(0.7)))]
    d, rs, pods, old = app(s, "ledger", [cont], replicas=1, statuses=st, prev=[prev], old_replicas=2,
                           rollout=14, service=[("http", 8080, "http")], progressing="updating")
    d["spec"]["replicas"] = 2
    for p in pods:
        pip = p["status"]["podIP"]
        pn = p["metadata"]["name"]
        _probe_kill_events(s, p, "ledger", image,
                           f'Liveness probe failed: Get "http://{pip}:8080/actuator/health/liveness": dial tcp {pip}:8080: connect: connection refused',
                           kills, 13.5)
        boot = ("2026-11-20T08:58:19.402Z  INFO 1 --- [ledger] [           main] c.e.ledger.LedgerApplication             : Starting LedgerApplication v4.2.0 using Java 21.0.5 with PID 1\n"
                "2026-11-20T08:58:21.977Z  INFO 1 --- [ledger] [           main] o.s.b.w.embedded.tomcat.TomcatWebServer  : Tomcat initialized with port 8080 (http)\n"
                "2026-11-20T08:58:24.310Z  INFO 1 --- [ledger] [           main] c.e.ledger.index.SnapshotLoader          : Loading ledger index from snapshot s3://ledger-snapshots/2026-11-20T06:00Z (41882113 entries)\n"
                "2026-11-20T08:58:54.118Z  INFO 1 --- [ledger] [           main] c.e.ledger.index.SnapshotLoader          : Loaded 9100000/41882113 entries\n")
        s.log(pn, "ledger", boot)
        s.log(pn, "ledger", boot.replace("08:58:", "08:57:") +
              "2026-11-20T08:57:59.630Z  INFO 1 --- [ledger] [ionShutdownHook] o.s.b.w.e.tomcat.GracefulShutdown        : Commencing graceful shutdown. Waiting for active requests to complete\n",
              previous=True)
    for p in old:
        s.log(p["metadata"]["name"], "ledger",
              "2026-11-11T08:51:02.114Z  INFO 1 --- [ledger] [           main] c.e.ledger.LedgerApplication             : Starting LedgerApplication v4.1.3 using Java 21.0.5 with PID 1\n"
              "2026-11-11T08:51:07.221Z  INFO 1 --- [ledger] [           main] c.e.ledger.index.SnapshotLoader          : Loading ledger index from snapshot s3://ledger-snapshots/2026-11-11T06:00Z (41207730 entries)\n"
              "2026-11-11T08:53:23.950Z  INFO 1 --- [ledger] [           main] c.e.ledger.index.SnapshotLoader          : Loaded 41207730/41207730 entries\n"
              "2026-11-11T08:53:24.718Z  INFO 1 --- [ledger] [           main] c.e.ledger.LedgerApplication             : Started LedgerApplication in 142.6 seconds (process running for 144.9)\n")
    s.expect["findings"] = [F("ProbeFailing", "Deployment", "ledger", root_cause=["liveness", "60s", "142.6"],
                              evidence=["Liveness probe failed"],
                              fix={"target": {"kind": "Deployment", "name": "ledger"},
                                   "patch": [T(f"{C0}/name", "ledger"), A(f"{C0}/startupProbe")],
                                   "kubectl": ['"path":"/actuator/health/liveness"'],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("OOMKilled", name="ledger"), NOT("CrashLoopBackOff", name="ledger")]
    return s


@scenario
def s50():
    s = Scenario("50-startup-probe-too-short-model-load", "search",
                 "ranker's startupProbe allows 60s (period 10 × failureThreshold 6) but loading the model and feature cache takes about 112s (the running pods of revision 3 log `loaded in 1m52s`): the kubelet kills the new pods while they load")
    cluster(s)
    image = "registry.example.com/search/ranker:3.9.0"
    cont = container("ranker", image, ports=[("http", 8000)],
                     resources={"limits": {"memory": "6Gi"}, "requests": {"cpu": "2", "memory": "6Gi"}},
                     readiness=http_probe("/ready", "http", period=5),
                     liveness=http_probe("/live", "http", period=10),
                     startup=http_probe("/live", "http", period=10, failure=6))
    prev = dict(copy.deepcopy(cont), image="registry.example.com/search/ranker:3.8.4")
    kills = 4

    def st(i):
        return [running(ts(0.4), ready=False, restarts=kills,
                        last=last_terminated("Error", 137, ts(1.5), ts(0.45)))]
    d, rs, pods, old = app(s, "ranker", [cont], replicas=1, statuses=st, prev=[prev], old_replicas=3,
                           rollout=9, service=[("http", 80, "http")], progressing="updating")
    d["spec"]["replicas"] = 3
    for p in pods:
        pip = p["status"]["podIP"]
        pn = p["metadata"]["name"]
        _probe_kill_events(s, p, "ranker", image,
                           f'Startup probe failed: Get "http://{pip}:8000/live": dial tcp {pip}:8000: connect: connection refused',
                           kills, 8.5, kind="startup")
        boot = ("[2026-11-20 08:59:41 +0000] [1] [INFO] Starting gunicorn 23.0.0\n"
                "[2026-11-20 08:59:41 +0000] [1] [INFO] Listening at: http://0.0.0.0:8000 (1)\n"
                "[2026-11-20 08:59:41 +0000] [1] [INFO] Using worker: uvicorn.workers.UvicornWorker\n"
                "[2026-11-20 08:59:42 +0000] [7] [INFO] Booting worker with pid: 7\n"
                "[2026-11-20 08:59:44 +0000] [7] [INFO] ranker: loading model ranker-xgb-2026-11-19 (2.7 GB)\n")
        s.log(pn, "ranker", boot)
        s.log(pn, "ranker", boot.replace("08:59:", "08:58:") +
              "[2026-11-20 08:59:37 +0000] [1] [INFO] Handling signal: term\n", previous=True)
    for p in old:
        s.log(p["metadata"]["name"], "ranker",
              "[2026-11-13 04:10:17 +0000] [1] [INFO] Starting gunicorn 23.0.0\n"
              "[2026-11-13 04:10:19 +0000] [7] [INFO] ranker: loading model ranker-xgb-2026-11-12 (2.6 GB)\n"
              "[2026-11-13 04:12:09 +0000] [7] [INFO] ranker: model and feature cache loaded in 1m52s\n"
              "[2026-11-13 04:12:09 +0000] [7] [INFO] Application startup complete.\n")
    s.expect["findings"] = [F("ProbeFailing", "Deployment", "ranker", root_cause=["startup", "60s", "112s"],
                              evidence=["Startup probe failed"],
                              fix={"target": {"kind": "Deployment", "name": "ranker"},
                                   "patch": [T(f"{C0}/startupProbe/failureThreshold", 6),
                                             R(f"{C0}/startupProbe/failureThreshold")],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("OOMKilled", name="ranker")]
    return s


# ------------------------------------------------------------ read-only root filesystem

@scenario
def s51():
    s = Scenario("51-readonly-rootfs-nginx-cache", "web",
                 "edge (nginx) runs with readOnlyRootFilesystem: true and exits at start: it cannot create /var/cache/nginx/client_temp (30: Read-only file system); it needs an emptyDir at /var/cache/nginx")
    cluster(s)
    image = "docker.io/nginxinc/nginx-unprivileged:1.27.2-alpine"
    s.configmap("edge-conf", {"default.conf": "server {\n  listen 8080;\n  location / { proxy_pass http://storefront:8080; }\n}\n"})
    cont = container("nginx", image, ports=[("http", 8080)],
                     mounts=[{"name": "conf", "mountPath": "/etc/nginx/conf.d", "readOnly": True}],
                     readiness=http_probe("/", "http"))
    prev = dict(copy.deepcopy(cont), image="docker.io/nginxinc/nginx-unprivileged:1.27.2-alpine")
    prev["securityContext"] = {"runAsNonRoot": True, "allowPrivilegeEscalation": False}
    restarts = 8

    def st(i):
        return [crashloop("nginx", restarts, started=ts(2.6), finished=ts(2.6))]
    d, rs, pods, old = app(s, "edge", [cont], replicas=2, statuses=st, prev=[prev],
                           volumes=[{"name": "conf", "configMap": {"name": "edge-conf", "defaultMode": 420}}],
                           rollout=17, service=[("http", 80, "http")], progressing="deadline")
    crash_events(s, pods, image, restarts, since=16.5)
    body = ("/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration\n"
            "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/\n"
            "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh\n"
            "10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf (read-only file system?)\n"
            "/docker-entrypoint.sh: Configuration complete; ready for start up\n"
            '2026/11/20 08:57:38 [emerg] 1#1: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)\n'
            'nginx: [emerg] mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)\n')
    for p in pods:
        s.log(p["metadata"]["name"], "nginx", body, previous=True)
        s.log(p["metadata"]["name"], "nginx", f'Request log error: container "nginx" in pod "{p["metadata"]["name"]}" is waiting to start: CrashLoopBackOff')
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "edge", root_cause=["read-only", "/var/cache/nginx"],
                              evidence=["Read-only file system"],
                              fix={"target": {"kind": "Deployment", "name": "edge"},
                                   "patch": [T(f"{C0}/securityContext/readOnlyRootFilesystem", True),
                                             A(f"{C0}/volumeMounts/-"), A(f"{PS}/volumes/-")],
                                   "kubectl": ['"mountPath":"/var/cache/nginx"', '"emptyDir":{}'],
                                   "dry_run": "passed"})]
    return s


@scenario
def s52():
    s = Scenario("52-readonly-rootfs-python-cache-dir", "media",
                 "thumbnailer (Python) runs with readOnlyRootFilesystem: true and crashes creating its cache directory /app/.cache/thumbnails ([Errno 30] Read-only file system); it needs an emptyDir there")
    cluster(s)
    image = "registry.example.com/media/thumbnailer:0.14.1"
    cont = container("thumbnailer", image, ports=[("http", 8000)],
                     env=[env("THUMB_CACHE_DIR", "/app/.cache/thumbnails")],
                     readiness=http_probe("/healthz", "http"))
    restarts = 11

    def st(i):
        return [crashloop("thumbnailer", restarts, started=ts(4.1), finished=ts(4.1))]
    d, rs, pods, _ = app(s, "thumbnailer", [cont], replicas=2, statuses=st, created_days=0,
                         service=[("http", 80, "http")], progressing="deadline")
    d["metadata"]["creationTimestamp"] = ts(38)
    crash_events(s, pods, image, restarts, since=37)
    body = ('{"time":"2026-11-20T08:55:58Z","level":"INFO","msg":"thumbnailer 0.14.1 starting","workers":4}\n'
            'Traceback (most recent call last):\n'
            '  File "/app/thumbnailer/__main__.py", line 4, in <module>\n'
            '    main()\n'
            '  File "/app/thumbnailer/app.py", line 31, in main\n'
            '    cache = DiskCache(os.environ["THUMB_CACHE_DIR"])\n'
            '  File "/app/thumbnailer/cache.py", line 18, in __init__\n'
            '    os.makedirs(self.root, exist_ok=True)\n'
            '  File "<frozen os>", line 225, in makedirs\n'
            "OSError: [Errno 30] Read-only file system: '/app/.cache/thumbnails'\n")
    for p in pods:
        s.log(p["metadata"]["name"], "thumbnailer", body, previous=True)
        s.log(p["metadata"]["name"], "thumbnailer", f'Request log error: container "thumbnailer" in pod "{p["metadata"]["name"]}" is waiting to start: CrashLoopBackOff')
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "thumbnailer", root_cause=["read-only", "/app/.cache/thumbnails"],
                              evidence=["Read-only file system"],
                              fix={"target": {"kind": "Deployment", "name": "thumbnailer"},
                                   "patch": [T(f"{C0}/name", "thumbnailer"), A(f"{C0}/volumeMounts"), A(f"{PS}/volumes")],
                                   "kubectl": ['"mountPath":"/app/.cache/thumbnails"', '"emptyDir":{}'],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("MissingConfigReference")]
    return s


# ------------------------------------------------------------ admission: quota and LimitRange

@scenario
def s53():
    s = Scenario("53-quota-limits-memory-exceeded", "reports",
                 "revision 2 of report-worker raised limits.memory from 2Gi to 4Gi; ResourceQuota team-quota caps limits.memory at 16Gi with 14Gi used, so the new ReplicaSet cannot create a pod (FailedCreate: exceeded quota); 2Gi is what fits")
    cluster(s)
    cont = container("worker", "registry.example.com/reports/report-worker:2.0.0",
                     resources={"limits": {"cpu": "1", "memory": "4Gi"}, "requests": {"cpu": "250m", "memory": "1Gi"}})
    prev = dict(copy.deepcopy(cont), image="registry.example.com/reports/report-worker:1.9.2",
                resources={"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": "250m", "memory": "1Gi"}})
    d, rs, pods, old = app(s, "report-worker", [cont], replicas=0, prev=[prev], old_replicas=3, rollout=21, events=False)
    d["spec"]["replicas"] = 3
    rs["spec"]["replicas"] = 1
    rsn = rs["metadata"]["name"]
    msg = (f'pods "{rsn}-{h("rq", 5)}" is forbidden: exceeded quota: team-quota, requested: limits.memory=4Gi, '
           "used: limits.memory=14Gi, limited: limits.memory=16Gi")
    rs["_extra_status"] = {"conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": ts(21),
                                           "reason": "FailedCreate", "message": msg}]}
    s.finish_deployment(d, progressing="updating", replica_failure=msg)
    s.event("Deployment", "report-worker", "ScalingReplicaSet", f"Scaled up replica set {rsn} from 0 to 1", first=ts(21),
            component="deployment-controller")
    s.event("ReplicaSet", rsn, "FailedCreate", "Error creating: " + msg, type_="Warning", count=17, first=ts(21), last=ts(0.9),
            component="replicaset-controller")
    # 3 x 2Gi of the old pods + 8Gi of the archive = 14Gi
    arch = container("archive", "registry.example.com/reports/archive:5.2.1",
                     resources={"limits": {"cpu": "2", "memory": "8Gi"}, "requests": {"cpu": "500m", "memory": "4Gi"}})
    app(s, "archive", [arch], replicas=1)
    s.add({"apiVersion": "v1", "kind": "ResourceQuota",
           "metadata": s.meta("ResourceQuota", "team-quota", created=ts(days=30)),
           "spec": {"hard": {"limits.memory": "16Gi", "requests.cpu": "8", "requests.memory": "12Gi"}},
           "status": {"hard": {"limits.memory": "16Gi", "requests.cpu": "8", "requests.memory": "12Gi"},
                      "used": {"limits.memory": "14Gi", "requests.cpu": "1250m", "requests.memory": "7Gi"}}})
    s.expect["findings"] = [F("ReplicaSetCreateFailed", "Deployment", "report-worker",
                              root_cause=["team-quota", "limits.memory", "16Gi", "14Gi"],
                              evidence=["exceeded quota"],
                              fix={"target": {"kind": "Deployment", "name": "report-worker"},
                                   "patch": [T(f"{C0}/resources/limits/memory", "4Gi"),
                                             R(f"{C0}/resources/limits/memory", "2Gi")],
                                   "dry_run": "passed"})]
    return s


@scenario
def s54():
    s = Scenario("54-limitrange-max-memory", "analytics",
                 "etl-api cannot create any pod: LimitRange container-limits sets max memory 1Gi per Container and the pod template asks limits.memory 2Gi (FailedCreate: maximum memory usage per Container is 1Gi, but limit is 2Gi)")
    cluster(s)
    cont = container("api", "registry.example.com/analytics/etl-api:1.0.0", ports=[("http", 8080)],
                     resources={"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": "200m", "memory": "512Mi"}},
                     readiness=http_probe("/ready", "http"))
    d, rs, pods, _ = app(s, "etl-api", [cont], replicas=0, created_days=0, service=[("http", 80, "http")])
    d["metadata"]["creationTimestamp"] = ts(24)
    rs["metadata"]["creationTimestamp"] = ts(24)
    d["spec"]["replicas"] = 2
    rs["spec"]["replicas"] = 2
    rsn = rs["metadata"]["name"]
    msg = f'pods "{rsn}-{h("lr", 5)}" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi'
    rs["_extra_status"] = {"conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": ts(24),
                                           "reason": "FailedCreate", "message": msg}]}
    s.finish_deployment(d, progressing="deadline", replica_failure=msg)
    s.event("Deployment", "etl-api", "ScalingReplicaSet", f"Scaled up replica set {rsn} from 0 to 2", first=ts(24),
            component="deployment-controller")
    s.event("ReplicaSet", rsn, "FailedCreate", "Error creating: " + msg, type_="Warning", count=19, first=ts(24), last=ts(0.6),
            component="replicaset-controller")
    s.add({"apiVersion": "v1", "kind": "LimitRange",
           "metadata": s.meta("LimitRange", "container-limits", created=ts(days=30)),
           "spec": {"limits": [{"type": "Container",
                                "max": {"cpu": "2", "memory": "1Gi"},
                                "min": {"cpu": "10m", "memory": "16Mi"},
                                "default": {"cpu": "500m", "memory": "512Mi"},
                                "defaultRequest": {"cpu": "100m", "memory": "256Mi"}}]}})
    s.expect["findings"] = [F("ReplicaSetCreateFailed", "Deployment", "etl-api",
                              root_cause=["container-limits", "1Gi", "2Gi"],
                              evidence=["maximum memory usage per Container"],
                              fix={"target": {"kind": "Deployment", "name": "etl-api"},
                                   "patch": [T(f"{C0}/resources/limits/memory", "2Gi"),
                                             R(f"{C0}/resources/limits/memory", "1Gi")],
                                   "dry_run": "passed"})]
    return s


# ------------------------------------------------------------ private registry without imagePullSecrets

def _dockerconfig(host, user):
    auth = b64(f"{user}:example-not-a-real-token")
    return _json.dumps({"auths": {host: {"username": user, "password": "example-not-a-real-token", "auth": auth}}})


@scenario
def s55():
    s = Scenario("55-ghcr-401-pull-secret-not-referenced", "fintech",
                 "ledger-sync's image on ghcr.io is private; the pods have no imagePullSecrets, so the pull gets 401 Unauthorized, while Secret ghcr-pull (kubernetes.io/dockerconfigjson) in the namespace holds the credential")
    cluster(s)
    image = "ghcr.io/acme-labs/ledger-sync:1.8.2"
    s.secret("ghcr-pull", {".dockerconfigjson": _dockerconfig("ghcr.io", "acme-ci")}, type_="kubernetes.io/dockerconfigjson",
             created=ts(days=12))
    s.secret("ledger-sync-db", {"username": "ledger", "password": "example-not-a-real-password"})
    cont = container("ledger-sync", image, env=[env_secret("DB_PASSWORD", "ledger-sync-db", "password")])
    msg = (f'Failed to pull image "{image}": failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
           f'failed to authorize: failed to fetch anonymous token: unexpected status from GET request to '
           f'https://ghcr.io/token?scope=repository%3Aacme-labs%2Fledger-sync%3Apull&service=ghcr.io: 401 Unauthorized')
    d, rs, pods, _ = app(s, "ledger-sync", [cont], replicas=1, created_days=0, progressing="deadline",
                         statuses=lambda i: [waiting("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {msg[len("Failed to pull image " + chr(34) + image + chr(34) + ": "):]}')])
    d["metadata"]["creationTimestamp"] = ts(26)
    for p in pods:
        kubelet_events(s, p,
                       ("Pulling", f'Pulling image "{image}"', "Normal", 9, 25.9, 3.1),
                       ("Failed", msg, "Warning", 9, 25.9, 3.1),
                       ("Failed", "Error: ErrImagePull", "Warning", 9, 25.9, 3.1),
                       ("BackOff", f'Back-off pulling image "{image}"', "Normal", 112, 25.8, 0.2),
                       ("Failed", "Error: ImagePullBackOff", "Warning", 112, 25.8, 0.2))
        s.log(p["metadata"]["name"], "ledger-sync",
              f'Request log error: container "ledger-sync" in pod "{p["metadata"]["name"]}" is waiting to start: trying and failing to pull image')
    s.expect["findings"] = [F("ImagePullBackOff", "Deployment", "ledger-sync", root_cause=["imagePullSecrets", "ghcr-pull"],
                              evidence=["401 Unauthorized"],
                              fix={"target": {"kind": "Deployment", "name": "ledger-sync"},
                                   "patch": [A(f"{PS}/imagePullSecrets", [{"name": "ghcr-pull"}])],
                                   "dry_run": "passed"})]
    return s


@scenario
def s56():
    s = Scenario("56-harbor-denied-two-registry-secrets", "payments",
                 "revision 4 of gateway moved its image to the private Harbor project harbor.corp.example.net/payments without adding imagePullSecrets: the pull is denied (authorization failed); of the two registry Secrets in the namespace, harbor-robot-payments is Harbor's (dockerhub-mirror is for Docker Hub)")
    cluster(s)
    image = "harbor.corp.example.net/payments/gateway:3.2.0"
    s.secret("dockerhub-mirror", {".dockerconfigjson": _dockerconfig("https://index.docker.io/v1/", "acmepay")},
             type_="kubernetes.io/dockerconfigjson", created=ts(days=40))
    s.secret("harbor-robot-payments", {".dockerconfigjson": _dockerconfig("harbor.corp.example.net", "robot$payments+puller")},
             type_="kubernetes.io/dockerconfigjson", created=ts(days=3))
    cont = container("gateway", image, ports=[("http", 8080)], readiness=http_probe("/ready", "http"))
    prev = dict(copy.deepcopy(cont), image="docker.io/acmepay/gateway:3.1.4")
    msg = (f'Failed to pull image "{image}": failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
           "pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed")
    d, rs, pods, old = app(s, "gateway", [cont], replicas=1, prev=[prev], old_replicas=3, rollout=33,
                           statuses=lambda i: [waiting("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: ' + msg.split(": ", 1)[1])],
                           service=[("http", 80, "http")], progressing="deadline")
    d["spec"]["replicas"] = 3
    d["status"]["unavailableReplicas"] = 1
    for p in pods:
        kubelet_events(s, p,
                       ("Pulling", f'Pulling image "{image}"', "Normal", 11, 32.9, 2.4),
                       ("Failed", msg, "Warning", 11, 32.9, 2.4),
                       ("Failed", "Error: ErrImagePull", "Warning", 11, 32.9, 2.4),
                       ("BackOff", f'Back-off pulling image "{image}"', "Normal", 146, 32.8, 0.3),
                       ("Failed", "Error: ImagePullBackOff", "Warning", 146, 32.8, 0.3))
        s.log(p["metadata"]["name"], "gateway",
              f'Request log error: container "gateway" in pod "{p["metadata"]["name"]}" is waiting to start: trying and failing to pull image')
    for p in old:
        s.log(p["metadata"]["name"], "gateway", '{"level":"info","msg":"gateway 3.1.4 listening","addr":":8080"}\n')
    s.expect["findings"] = [F("ImagePullBackOff", "Deployment", "gateway", root_cause=["imagePullSecrets", "harbor-robot-payments"],
                              evidence=["authorization failed"],
                              fix={"target": {"kind": "Deployment", "name": "gateway"},
                                   "patch": [A(f"{PS}/imagePullSecrets", [{"name": "harbor-robot-payments"}])],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("CrashLoopBackOff", name="gateway")]
    return s


# ------------------------------------------------------------ exec format error

@scenario
def s57():
    s = Scenario("57-exec-format-error-arm64-nodes", "geo",
                 "tiles 2.4.0 was built for amd64 only; the cluster mixes amd64 (worker-1) and arm64 (worker-2, worker-3) nodes: the pods on the arm64 nodes exit at once with `exec format error`, the one on worker-1 runs")
    _arch_node(s, "worker-1", "amd64")
    _arch_node(s, "worker-2", "arm64")
    _arch_node(s, "worker-3", "arm64")
    s.storageclass()
    s.basics()
    image = "registry.example.com/geo/tiles:2.4.0"
    cont = container("tiles", image, ports=[("http", 8080)], readiness=http_probe("/ready", "http"))
    prev = dict(copy.deepcopy(cont), image="registry.example.com/geo/tiles:2.3.2")
    restarts = 9

    def st(i):
        if i == 0:
            return [running(ts(18.9))]
        return [crashloop("tiles", restarts, code=255, started=ts(3.3), finished=ts(3.3))]
    d, rs, pods, _ = app(s, "tiles", [cont], replicas=3, statuses=st, prev=[prev], rollout=19,
                         service=[("http", 80, "http")], progressing="deadline")
    crash_events(s, pods[1:], image, restarts, since=18.5)
    s.log(pods[0]["metadata"]["name"], "tiles", '{"level":"info","msg":"tiles 2.4.0 serving","addr":":8080","tilesets":14}\n')
    for p in pods[1:]:
        s.log(p["metadata"]["name"], "tiles", "exec /usr/local/bin/tiles-server: exec format error\n", previous=True)
        s.log(p["metadata"]["name"], "tiles", f'Request log error: container "tiles" in pod "{p["metadata"]["name"]}" is waiting to start: CrashLoopBackOff')
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "tiles", root_cause=["exec format error", "arm64", "amd64"],
                              evidence=["exec format error"],
                              fix={"target": {"kind": "Deployment", "name": "tiles"},
                                   "patch": [A(f"{PS}/nodeSelector", {"kubernetes.io/arch": "amd64"})],
                                   "dry_run": "passed"})]
    s.expect["must_not"] = [NOT("NodeNotReady")]
    return s


@scenario
def s58():
    s = Scenario("58-exec-format-error-daemonset-amd64-tag", "monitoring",
                 "DaemonSet node-agent runs image tag 0.9.3-amd64 on every node; on the two arm64 nodes it exits with `exec format error`")
    for i in (1, 2, 3):
        _arch_node(s, f"worker-{i}", "amd64")
    for i in (1, 2):
        _arch_node(s, f"arm-{i}", "arm64")
    s.storageclass()
    s.basics()
    image = "registry.example.com/platform/node-agent:0.9.3-amd64"
    tpl = template({"app": "node-agent"}, [container("agent", image, ports=[("metrics", 9100)],
                                                     resources={"limits": {"memory": "96Mi"}, "requests": {"cpu": "20m", "memory": "48Mi"}})],
                   node_selector={"kubernetes.io/os": "linux"}, tolerations=[{"operator": "Exists"}])
    ok = [running(ts(days=6, seconds=-20))]
    bad = [crashloop("agent", 1650, code=255, started=ts(4.2), finished=ts(4.2))]
    nodes = ["worker-1", "worker-2", "worker-3", "arm-1", "arm-2"]
    ds = daemonset(s, "node-agent", tpl, nodes, [ok, ok, ok, bad, bad], created=ts(days=6))
    crash_events(s, ds["_pods"][3:], image, 1650, since=58)
    for q in ds["_pods"][:3]:
        s.log(q["metadata"]["name"], "agent", 'ts=2026-11-14T09:00:02Z level=info msg="listening" address=:9100\n')
    for p in ds["_pods"][3:]:
        s.log(p["metadata"]["name"], "agent", "exec /bin/node-agent: exec format error\n", previous=True)
        s.log(p["metadata"]["name"], "agent", f'Request log error: container "agent" in pod "{p["metadata"]["name"]}" is waiting to start: CrashLoopBackOff')
    s.expect["findings"] = [F("CrashLoopBackOff", "DaemonSet", "node-agent", root_cause=["exec format error", "arm64", "amd64"],
                              evidence=["exec format error"],
                              fix={"target": {"kind": "DaemonSet", "name": "node-agent"},
                                   "patch": [A(f"{PS}/nodeSelector/kubernetes.io~1arch", "amd64")],
                                   "dry_run": "passed"})]
    return s


# ------------------------------------------------------------ sidecar with a bad flag

@scenario
def s59():
    s = Scenario("59-sidecar-exporter-bad-flag", "shop",
                 "storefront's main container runs, its sidecar `metrics` (nginx-prometheus-exporter) crash-loops: args pass -web.listen-adress (typo), the exporter knows -web.listen-address")
    cluster(s)
    image = "registry.example.com/shop/storefront:6.2.0"
    exp = "docker.io/nginx/nginx-prometheus-exporter:0.11.0"
    main = container("storefront", image, ports=[("http", 8080)], readiness=http_probe("/ready", "http"))
    side = container("metrics", exp, ports=[("metrics", 9113)],
                     args=["-nginx.scrape-uri=http://127.0.0.1:8080/stub_status", "-web.listen-adress=:9113"],
                     resources={"limits": {"memory": "64Mi"}, "requests": {"cpu": "10m", "memory": "32Mi"}})
    restarts = 12

    def st(i):
        return [running(ts(days=2)), crashloop("metrics", restarts, code=2, started=ts(4.8), finished=ts(4.8))]
    d, rs, pods, _ = app(s, "storefront", [main, side], replicas=2, statuses=st, created_days=2,
                         service=[("http", 80, "http")])
    for p in pods:
        pn = p["metadata"]["name"]
        kubelet_events(s, p, ("BackOff", f"Back-off restarting failed container metrics in pod {pn}_{s.ns}({p['metadata']['uid']})",
                              "Warning", 610, 60 * 47, 0.5))
        p["status"]["containerStatuses"][1]  # the sidecar
        s.log(pn, "storefront", '{"level":"info","msg":"storefront 6.2.0 listening","addr":":8080"}\n')
        s.log(pn, "metrics", f'Request log error: container "metrics" in pod "{pn}" is waiting to start: CrashLoopBackOff')
        s.log(pn, "metrics",
              "flag provided but not defined: -web.listen-adress\n"
              "Usage of /usr/bin/nginx-prometheus-exporter:\n"
              "  -nginx.plus\n    \tStart the exporter for NGINX Plus. By default, the exporter is started for NGINX. The default value can be overwritten by NGINX_PLUS environment variable.\n"
              "  -nginx.retries uint\n    \tA number of retries the exporter will make on start to connect to the NGINX stub_status page/NGINX Plus API before exiting with an error. The default value can be overwritten by NGINX_RETRIES environment variable.\n"
              "  -nginx.scrape-uri string\n    \tA URI for scraping NGINX or NGINX Plus metrics. (default \"http://127.0.0.1:8080/stub_status\")\n"
              "  -web.listen-address string\n    \tAn address or unix domain socket path to listen on for web interface and telemetry. (default \":9113\")\n"
              "  -web.telemetry-path string\n    \tA path under which to expose metrics. (default \"/metrics\")\n",
              previous=True)
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "storefront", root_cause=["metrics", "-web.listen-adress"],
                              evidence=["flag provided but not defined"],
                              fix={"target": {"kind": "Deployment", "name": "storefront"},
                                   "patch": [T(f"{C1}/name", "metrics"), T(f"{C1}/args/1", "-web.listen-adress=:9113"),
                                             R(f"{C1}/args/1", "-web.listen-address=:9113")],
                                   "dry_run": "passed"})]
    return s


@scenario
def s60():
    s = Scenario("60-sidecar-statsd-exporter-flag-typo", "orders",
                 "revision 5 of orders-api changed the statsd-exporter sidecar's mapping flag to --statsd.mapping-confg (typo); the sidecar exits (`unknown long flag`), the main container runs; revision 4 passed --statsd.mapping-config")
    cluster(s)
    s.configmap("statsd-mapping", {"mapping.yml": "mappings:\n  - match: \"orders.*.latency\"\n    name: \"orders_latency_ms\"\n    labels:\n      handler: \"$1\"\n"})
    image = "registry.example.com/orders/orders-api:8.4.1"
    exp = "docker.io/prom/statsd-exporter:v0.27.1"
    main = container("orders-api", image, ports=[("http", 8080)], readiness=http_probe("/ready", "http"),
                     env=[env("STATSD_ADDR", "127.0.0.1:9125")])
    mounts = [{"name": "mapping", "mountPath": "/etc/statsd", "readOnly": True}]
    side = container("statsd-exporter", exp, ports=[("metrics", 9102)],
                     args=["--statsd.listen-udp=:9125", "--statsd.mapping-confg=/etc/statsd/mapping.yml", "--log.level=warn"],
                     mounts=mounts, resources={"limits": {"memory": "64Mi"}, "requests": {"cpu": "10m", "memory": "32Mi"}})
    prev_side = dict(copy.deepcopy(side), args=["--statsd.listen-udp=:9125", "--statsd.mapping-config=/etc/statsd/mapping.yml"])
    prev_main = copy.deepcopy(main)
    restarts = 7

    def st(i):
        return [running(ts(15.5)), crashloop("statsd-exporter", restarts, started=ts(2.9), finished=ts(2.9))]
    d, rs, pods, old = app(s, "orders-api", [main, side], replicas=1, statuses=st, prev=[prev_main, prev_side],
                           old_replicas=2, rollout=16, service=[("http", 80, "http")], progressing="updating",
                           volumes=[{"name": "mapping", "configMap": {"name": "statsd-mapping", "defaultMode": 420}}])
    d["spec"]["replicas"] = 2
    for p in pods:
        pn = p["metadata"]["name"]
        kubelet_events(s, p, ("BackOff", f"Back-off restarting failed container statsd-exporter in pod {pn}_{s.ns}({p['metadata']['uid']})",
                              "Warning", 64, 15, 0.4))
        s.log(pn, "orders-api", '{"level":"info","msg":"orders-api 8.4.1 listening","addr":":8080"}\n')
        s.log(pn, "statsd-exporter", f'Request log error: container "statsd-exporter" in pod "{pn}" is waiting to start: CrashLoopBackOff')
        s.log(pn, "statsd-exporter", "statsd_exporter: error: unknown long flag '--statsd.mapping-confg', try --help\n", previous=True)
    for p in old:
        s.log(p["metadata"]["name"], "orders-api", '{"level":"info","msg":"orders-api 8.4.1 listening","addr":":8080"}\n')
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "orders-api", root_cause=["statsd-exporter", "--statsd.mapping-confg"],
                              evidence=["unknown long flag"],
                              fix={"target": {"kind": "Deployment", "name": "orders-api"},
                                   "patch": [T(f"{C1}/name", "statsd-exporter"),
                                             R(f"{C1}/args", prev_side["args"])],
                                   "dry_run": "passed"})]
    return s


@scenario
def s61():
    s = Scenario("61-healthy-readonly-rootfs-with-scratch-mounts", "web",
                 "healthy: nginx runs with readOnlyRootFilesystem: true and emptyDirs at /var/cache/nginx and /tmp; its entrypoint logs that it cannot modify the read-only ConfigMap default.conf, which is expected")
    cluster(s)
    image = "docker.io/nginxinc/nginx-unprivileged:1.27.2-alpine"
    s.configmap("docs-conf", {"default.conf": "server {\n  listen 8080;\n  root /usr/share/nginx/html;\n}\n"})
    cont = container("nginx", image, ports=[("http", 8080)],
                     mounts=[{"name": "conf", "mountPath": "/etc/nginx/conf.d", "readOnly": True},
                             {"name": "cache", "mountPath": "/var/cache/nginx"},
                             {"name": "tmp", "mountPath": "/tmp"}],
                     readiness=http_probe("/", "http"))
    d, rs, pods, _ = app(s, "docs", [cont], replicas=2, service=[("http", 80, "http")],
                         volumes=[{"name": "conf", "configMap": {"name": "docs-conf", "defaultMode": 420}},
                                  {"name": "cache", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}])
    for p in pods:
        s.log(p["metadata"]["name"], "nginx",
              "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration\n"
              "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh\n"
              "10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf (read-only file system?)\n"
              "/docker-entrypoint.sh: Configuration complete; ready for start up\n"
              "2026/11/11 09:00:05 [notice] 1#1: nginx/1.27.2\n"
              "2026/11/11 09:00:05 [notice] 1#1: start worker processes\n"
              f'{ip("10.244", "ingress")} - - [20/Nov/2026:08:59:58 +0000] "GET / HTTP/1.1" 200 3712 "-" "kube-probe/1.35"\n')
    s.expect["healthy"] = True
    s.expect["must_not"] = [NOT("CrashLoopBackOff", name="docs"), dict(NOT(name="docs"), severity="error")]
    return s


@scenario
def s62():
    s = Scenario("62-limitrange-max-cpu-sidecar", "ingest",
                 "collector's new revision gave its sidecar `buffer` limits.cpu 4; LimitRange per-container caps cpu at 2 per Container, so the new ReplicaSet cannot create pods (maximum cpu usage per Container is 2, but limit is 4); the main container (limit 1) is within it")
    cluster(s)
    main = container("collector", "registry.example.com/ingest/collector:3.3.0", ports=[("grpc", 4317)],
                     resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "512Mi"}})
    side = container("buffer", "registry.example.com/ingest/disk-buffer:1.6.2",
                     resources={"limits": {"cpu": "4", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}})
    prev_side = dict(copy.deepcopy(side), resources={"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}})
    d, rs, pods, old = app(s, "collector", [main, side], replicas=0, prev=[copy.deepcopy(main), prev_side], old_replicas=2,
                           rollout=31, events=False)
    d["spec"]["replicas"] = 2
    rs["spec"]["replicas"] = 1
    rsn = rs["metadata"]["name"]
    msg = f'pods "{rsn}-{h("cpu", 5)}" is forbidden: maximum cpu usage per Container is 2, but limit is 4'
    rs["_extra_status"] = {"conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": ts(31),
                                           "reason": "FailedCreate", "message": msg}]}
    s.finish_deployment(d, progressing="deadline", replica_failure=msg)
    s.event("Deployment", "collector", "ScalingReplicaSet", f"Scaled up replica set {rsn} from 0 to 1", first=ts(31),
            component="deployment-controller")
    s.event("ReplicaSet", rsn, "FailedCreate", "Error creating: " + msg, type_="Warning", count=21, first=ts(31), last=ts(1.2),
            component="replicaset-controller")
    s.add({"apiVersion": "v1", "kind": "LimitRange",
           "metadata": s.meta("LimitRange", "per-container", created=ts(days=60)),
           "spec": {"limits": [{"type": "Container", "max": {"cpu": "2", "memory": "4Gi"},
                                "default": {"cpu": "500m", "memory": "512Mi"},
                                "defaultRequest": {"cpu": "100m", "memory": "128Mi"}},
                               {"type": "PersistentVolumeClaim", "max": {"storage": "50Gi"}}]}})
    s.expect["findings"] = [F("ReplicaSetCreateFailed", "Deployment", "collector",
                              root_cause=["per-container", "cpu", "2", "4"],
                              evidence=["maximum cpu usage per Container"],
                              fix={"target": {"kind": "Deployment", "name": "collector"},
                                   "patch": [T(f"{C1}/name", "buffer"), T(f"{C1}/resources/limits/cpu", "4"),
                                             R(f"{C1}/resources/limits/cpu", "2")],
                                   "dry_run": "passed"})]
    return s
