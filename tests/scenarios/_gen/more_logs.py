# Class 1 (the telling log line) and class 5 (quantities as written):
# scenarios 39-48. Runs in scenarios.py's namespace (`@scenario`, `F`, `app`...).


def crash_looping_with_log(s, name, image, body, restarts=6, args=None, command=None, env_=None, ports=(("http", 8080),),
             resources=None, service=True, prev_image=None, secure=True, code=1):
    """A Deployment of one replica-pair whose container crash-loops with `body`
    as its previous instance's log (the current instance is waiting)."""
    cont = container(name, image, ports=list(ports), env=env_, args=args, command=command,
                     resources=resources, secure=secure,
                     readiness=http_probe("/ready", ports[0][0]) if ports else None)
    prev = None
    if prev_image:
        prev = [dict(copy.deepcopy(cont), image=prev_image)]

    def st(i):
        return [crashloop(name, restarts, code=code, started=ts(2.4 + i * 0.3), finished=ts(2.3 + i * 0.3))]
    d, rs, pods, old = app(s, name, [cont], replicas=2, statuses=st, prev=prev, old_replicas=0,
                           rollout=24, service=[("http", 80, ports[0][0])] if service and ports else None,
                           progressing="deadline" if prev else None)
    crash_events(s, pods, image, restarts, since=23.5)
    for p in pods:
        pn = p["metadata"]["name"]
        s.log(pn, name, f'Request log error: container "{name}" in pod "{pn}" is waiting to start: back-off 5m0s restarting failed container={name} pod={pn}_{s.ns}({p["metadata"]["uid"]})')
        s.log(pn, name, body, previous=True)
    return d, pods


@scenario
def s39():
    s = Scenario("39-node-config-validation-banner", "booking",
                 "availability 2.8.0 crash-loops: its config validation rejects cache.ttlSeconds \"15m\" (a number is required); Node.js prints its version banner after the error")
    cluster(s)
    image = "registry.example.com/booking/availability:2.8.0"
    body = """
> availability@2.8.0 start
> node dist/server.js

{"level":30,"time":1795165079311,"pid":18,"hostname":"availability","msg":"loading configuration from /etc/availability/config.json"}
/app/dist/config.js:58
    throw new Error(`Invalid configuration: ${problems.join('; ')}`);
    ^

Error: Invalid configuration: "cache.ttlSeconds" must be a number of seconds (got "15m")
    at loadConfig (/app/dist/config.js:58:11)
    at Object.<anonymous> (/app/dist/server.js:9:16)
    at Module._compile (node:internal/modules/cjs/loader:1469:14)
    at Module._extensions..js (node:internal/modules/cjs/loader:1548:10)
    at Module.load (node:internal/modules/cjs/loader:1288:32)
    at Module._load (node:internal/modules/cjs/loader:1104:12)
    at TracingChannel.traceSync (node:diagnostics_channel:315:14)
    at wrapModuleLoad (node:internal/modules/cjs/loader:218:24)
    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:170:5)
    at node:internal/main/run_main_module:36:49

Node.js v20.18.0
"""
    crash_looping_with_log(s, "availability", image, body, ports=(("http", 3000),), env_=[env("NODE_ENV", "production")],
             prev_image="registry.example.com/booking/availability:2.7.4")
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "availability", severity="critical",
                              root_cause=["cache.ttlSeconds", "15m"],
                              evidence=['"cache.ttlSeconds" must be a number of seconds (got "15m")'])]
    return s


@scenario
def s40():
    s = Scenario("40-go-operator-unknown-flag-usage", "platform-system",
                 "the backup operator's manager crash-loops: its args pass --metrics-bind-address, a flag this build does not define (it has -metrics-addr); Go prints the whole usage text after the error")
    cluster(s)
    image = "ghcr.io/example/backup-operator:0.9.3"
    body = """flag provided but not defined: -metrics-bind-address
Usage of /manager:
  -health-probe-bind-address string
    \tThe address the probe endpoint binds to. (default ":8081")
  -kubeconfig string
    \tPaths to a kubeconfig. Only required if out-of-cluster.
  -leader-elect
    \tEnable leader election for controller manager. Enabling this will ensure there is only one active controller manager.
  -metrics-addr string
    \tThe address the metric endpoint binds to. (default ":8080")
  -zap-devel
    \tDevelopment Mode defaults(encoder=consoleEncoder,logLevel=Debug,stackTraceLevel=Warn). Production Mode defaults(encoder=jsonEncoder,logLevel=Info,stackTraceLevel=Error) (default true)
  -zap-encoder value
    \tZap log encoding (one of 'json' or 'console')
  -zap-log-level value
    \tZap Level to configure the verbosity of logging. Can be one of 'debug', 'info', 'error', or any integer value > 0 which corresponds to custom debug levels of increasing verbosity
  -zap-stacktrace-level value
    \tZap Level at and above which stacktraces are captured (one of 'info', 'error', 'panic').
  -zap-time-encoding value
    \tZap time encoding (one of 'epoch', 'millis', 'nano', 'iso8601', 'rfc3339' or 'rfc3339nano'). Defaults to 'epoch'.
"""
    crash_looping_with_log(s, "manager", image, body, command=["/manager"],
             args=["--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=127.0.0.1:8080"],
             ports=(("metrics", 8080),), service=False, restarts=9)
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "manager",
                              root_cause=["metrics-bind-address", "args"],
                              evidence=["flag provided but not defined: -metrics-bind-address"])]
    return s


@scenario
def s41():
    s = Scenario("41-python-argparse-misspelled-option", "mail",
                 "the mail worker crash-loops: its args misspell --concurrency as --concurency, which argparse refuses after printing its usage line")
    cluster(s)
    image = "registry.example.com/mail/worker:1.12.0"
    body = """usage: worker.py [-h] [--queue QUEUE] [--concurrency CONCURRENCY]
                 [--log-level {debug,info,warning,error}] [--metrics-port METRICS_PORT]
worker.py: error: unrecognized arguments: --concurency 8
"""
    crash_looping_with_log(s, "mail-worker", image, body, command=["python", "worker.py"],
             args=["--queue", "outbound", "--concurency", "8", "--log-level", "info"],
             ports=(("metrics", 9102),), service=False, restarts=5, code=2)
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "mail-worker",
                              root_cause=["--concurency"],
                              evidence=["unrecognized arguments: --concurency 8"],
                              fix={"target": {"kind": "Deployment", "name": "mail-worker"},
                                   "patch": [T(f"{C0}/name", "mail-worker"), T(f"{C0}/args/2", "--concurency"),
                                             R(f"{C0}/args/2", "--concurrency")],
                                   "dry_run": "passed"})]
    return s


@scenario
def s42():
    s = Scenario("42-jvm-unrecognized-vm-option", "ledger",
                 "ledger 4.2.0 moved to a Java 21 base image; JAVA_TOOL_OPTIONS still carries -XX:+UseCGroupMemoryLimitForHeap, removed in JDK 10, so the JVM refuses to start")
    cluster(s)
    image = "registry.example.com/ledger/ledger:4.2.0"
    opts = "-XX:+UseCGroupMemoryLimitForHeap -XX:MaxRAMFraction=2 -Dfile.encoding=UTF-8"
    body = f"""Picked up JAVA_TOOL_OPTIONS: {opts}
Unrecognized VM option 'UseCGroupMemoryLimitForHeap'
Error: Could not create the Java Virtual Machine.
Error: A fatal exception has occurred. Program will exit.
"""
    crash_looping_with_log(s, "ledger", image, body, env_=[env("JAVA_TOOL_OPTIONS", opts), env("SPRING_PROFILES_ACTIVE", "prod")],
             resources={"limits": {"memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
             prev_image="registry.example.com/ledger/ledger:4.1.3")
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "ledger", severity="critical",
                              root_cause=["Unrecognized VM option", "UseCGroupMemoryLimitForHeap", "JAVA_TOOL_OPTIONS"],
                              evidence=["Unrecognized VM option 'UseCGroupMemoryLimitForHeap'"])]
    return s


@scenario
def s43():
    s = Scenario("43-ruby-keyerror-env-fetch", "billing",
                 "invoices (Rails) crash-loops at boot: an initializer calls ENV.fetch(\"LEDGER_API_URL\"), which the Deployment does not set; Puma's boot lines come first")
    cluster(s)
    image = "registry.example.com/billing/invoices:7.3.1"
    body = """=> Booting Puma
=> Rails 7.1.3 application starting in production
=> Run `bin/rails server --help` for more startup options
Exiting
/app/config/initializers/ledger_client.rb:4:in `fetch': key not found: "LEDGER_API_URL" (KeyError)
\tfrom /app/config/initializers/ledger_client.rb:4:in `<main>'
\tfrom /usr/local/bundle/gems/railties-7.1.3/lib/rails/engine.rb:689:in `load'
\tfrom /usr/local/bundle/gems/railties-7.1.3/lib/rails/engine.rb:689:in `block in load_config_initializer'
\tfrom /usr/local/bundle/gems/activesupport-7.1.3/lib/active_support/notifications.rb:206:in `instrument'
\tfrom /usr/local/bundle/gems/railties-7.1.3/lib/rails/initializable.rb:32:in `instance_exec'
\tfrom /usr/local/bundle/gems/railties-7.1.3/lib/rails/application.rb:426:in `initialize!'
\tfrom /app/config/environment.rb:5:in `<main>'
\tfrom config.ru:3:in `require_relative'
\tfrom /usr/local/bundle/gems/puma-6.4.2/lib/puma/cli.rb:75:in `run'
\tfrom /usr/local/bundle/gems/puma-6.4.2/bin/puma:10:in `<top (required)>'
\tfrom /usr/local/bundle/bin/puma:25:in `load'
\tfrom /usr/local/bundle/bin/puma:25:in `<main>'
"""
    crash_looping_with_log(s, "invoices", image, body, ports=(("http", 3000),),
             env_=[env("RAILS_ENV", "production"), env("RAILS_LOG_TO_STDOUT", "1"),
                   env("DATABASE_URL", "postgres://invoices@pg-billing.billing.svc:5432/invoices")])
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "invoices", severity="critical",
                              root_cause=["LEDGER_API_URL"],
                              evidence=['key not found: "LEDGER_API_URL" (KeyError)'])]
    return s


@scenario
def s44():
    s = Scenario("44-dotnet-appsettings-json-syntax", "inventory",
                 "inventory-api (.NET 8) crash-loops: appsettings.Production.json from ConfigMap inventory-settings has a syntax error at line 17 (a missing ':')")
    cluster(s)
    s.configmap("inventory-settings", {"appsettings.Production.json": '{\n  "Logging": {"LogLevel": {"Default": "Information"}},\n  "ConnectionStrings": {\n    "Inventory": "Host=pg-inventory;Database=inventory"\n  },\n  "Cache" {\n    "SizeLimit": 4096\n  }\n}\n'})
    image = "registry.example.com/inventory/inventory-api:8.4.0"
    body = """Unhandled exception. System.IO.InvalidDataException: Failed to load configuration from file '/app/config/appsettings.Production.json'.
 ---> System.Text.Json.JsonReaderException: '"' is invalid after a property name. Expected a ':'. LineNumber: 17 | BytePositionInLine: 10.
   at System.Text.Json.ThrowHelper.ThrowJsonReaderException(Utf8JsonReader& json, ExceptionResource resource, Byte nextByte, ReadOnlySpan`1 bytes)
   at System.Text.Json.Utf8JsonReader.ConsumePropertyName()
   at Microsoft.Extensions.Configuration.Json.JsonConfigurationFileParser.ParseStream(Stream input)
   at Microsoft.Extensions.Configuration.FileConfigurationProvider.Load(Boolean reload)
   --- End of inner exception stack trace ---
   at Microsoft.Extensions.Configuration.FileConfigurationProvider.HandleException(ExceptionDispatchInfo info)
   at Microsoft.Extensions.Configuration.ConfigurationManager.AddSource(IConfigurationSource source)
   at Program.<Main>$(String[] args) in /src/Inventory.Api/Program.cs:line 14
"""
    cont_mounts = [{"name": "settings", "mountPath": "/app/config", "readOnly": True}]
    d, pods = crash_looping_with_log(s, "inventory-api", image, body, env_=[env("ASPNETCORE_ENVIRONMENT", "Production")],
                       code=134)
    d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = cont_mounts
    d["spec"]["template"]["spec"]["volumes"] = [{"name": "settings", "configMap": {"name": "inventory-settings", "defaultMode": 420}}]
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "inventory-api", severity="critical",
                              root_cause=["appsettings.Production.json"],
                              evidence=["LineNumber: 17"])]
    return s


@scenario
def s45():
    s = Scenario("45-imagepull-403-long-reference", "payments",
                 "settlement's new image cannot be pulled: the Harbor robot account in imagePullSecrets has no pull permission on project payments-internal, and the registry answers 403 Forbidden at the end of a long containerd message")
    cluster(s)
    s.secret("harbor-robot-settlement", {".dockerconfigjson": '{"auths":{"harbor.corp.example.com":{"auth":"cm9ib3Q="}}}'},
             type_="kubernetes.io/dockerconfigjson")
    image = "harbor.corp.example.com/payments-internal/settlement-batch-processor:3.14.2-20261118.1f0c9a2b"
    ref = "harbor.corp.example.com/payments-internal/settlement-batch-processor"
    tag = "3.14.2-20261118.1f0c9a2b"
    cont = container("settlement", image, ports=[("http", 8080)], readiness=http_probe("/ready", "http"))
    msg = (f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
           f'unexpected status from HEAD request to https://harbor.corp.example.com/v2/payments-internal/settlement-batch-processor/manifests/{tag}: 403 Forbidden')
    d, rs, pods, old = app(s, "settlement", [cont], replicas=1,
                           statuses=lambda i: [waiting("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: rpc error: code = Unknown desc = {msg}')],
                           prev=[dict(copy.deepcopy(cont), image=f"{ref}:3.14.1-20261102.9e2d17c4")], old_replicas=2,
                           rollout=31, service=[("http", 8080, "http")], progressing="deadline",
                           tpl_kw={})
    for p in [d] + pods + old:
        spec = p["spec"]["template"]["spec"] if p is d else p["spec"]
        spec["imagePullSecrets"] = [{"name": "harbor-robot-settlement"}]
    for rsx in [o for o in s.objects if o.get("kind") == "ReplicaSet"]:
        rsx["spec"]["template"]["spec"]["imagePullSecrets"] = [{"name": "harbor-robot-settlement"}]
    d["spec"]["replicas"] = 2
    for p in pods:
        kubelet_events(s, p,
                       ("Pulling", f'Pulling image "{image}"', "Normal", 9, 30.9, 3.1),
                       ("Failed", f'Failed to pull image "{image}": rpc error: code = Unknown desc = {msg}', "Warning", 9, 30.9, 3.1),
                       ("Failed", "Error: ErrImagePull", "Warning", 9, 30.9, 3.1),
                       ("BackOff", f'Back-off pulling image "{image}"', "Normal", 130, 30.8, 0.4),
                       ("Failed", "Error: ImagePullBackOff", "Warning", 130, 30.8, 0.4))
        s.log(p["metadata"]["name"], "settlement",
              f'Request log error: container "settlement" in pod "{p["metadata"]["name"]}" is waiting to start: trying and failing to pull image')
    for p in old:
        s.log(p["metadata"]["name"], "settlement", '{"level":"INFO","logger":"settlement","message":"batch window open","pending":112}\n')
    s.expect["findings"] = [F("ImagePullBackOff", "Deployment", "settlement",
                              root_cause=["settlement-batch-processor"],
                              evidence=["manifests/3.14.2-20261118.1f0c9a2b: 403 Forbidden"])]
    s.expect["must_not"] = [NOT("CrashLoopBackOff", name="settlement")]
    return s


@scenario
def s46():
    s = Scenario("46-python-yaml-config-line", "observability",
                 "the SNMP exporter crash-loops: config.yaml from ConfigMap snmp-exporter-config has a YAML error at line 7 (an unquoted value with ': '); an INFO line naming exception classes comes first")
    cluster(s)
    s.configmap("snmp-exporter-config", {"config.yaml": "targets:\n  - host: core-sw-1.dc1\n    community: public\n  - host: core-sw-2.dc1\n    community: public\nauth:\n  description: read-only: v2c\n"})
    image = "registry.example.com/observability/snmp-exporter:0.6.1"
    body = """INFO:     Started server process [1]
INFO:     Waiting for application startup.
INFO:     error handlers registered: snmp_exporter.errors.SNMPTimeoutError -> 504, snmp_exporter.errors.UnknownTargetError -> 404
Traceback (most recent call last):
  File "/app/main.py", line 8, in <module>
    settings = load_settings(os.environ.get("CONFIG_PATH", "/etc/snmp-exporter/config.yaml"))
               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/app/snmp_exporter/settings.py", line 22, in load_settings
    raw = yaml.safe_load(f)
          ^^^^^^^^^^^^^^^^^
  File "/usr/local/lib/python3.12/site-packages/yaml/__init__.py", line 125, in safe_load
    return load(stream, SafeLoader)
           ^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/local/lib/python3.12/site-packages/yaml/scanner.py", line 577, in fetch_value
    raise ScannerError(None, None,
yaml.scanner.ScannerError: mapping values are not allowed here
  in "/etc/snmp-exporter/config.yaml", line 7, column 27
ERROR:    Application startup failed. Exiting.
"""
    d, pods = crash_looping_with_log(s, "snmp-exporter", image, body, ports=(("http", 9116),), code=3,
                       env_=[env("CONFIG_PATH", "/etc/snmp-exporter/config.yaml")])
    d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "config", "mountPath": "/etc/snmp-exporter", "readOnly": True}]
    d["spec"]["template"]["spec"]["volumes"] = [{"name": "config", "configMap": {"name": "snmp-exporter-config", "defaultMode": 420}}]
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "snmp-exporter", severity="critical",
                              root_cause=["mapping values are not allowed"],
                              evidence=['in "/etc/snmp-exporter/config.yaml", line 7, column 27'])]
    return s


@scenario
def s47():
    s = Scenario("47-prometheus-config-unknown-field", "monitoring",
                 "Prometheus crash-loops after a config change: prometheus.yml line 23 spells scrape_interval as scrape_intervall; the error is at the end of a long logfmt line and Prometheus says goodbye after it")
    cluster(s)
    image = "quay.io/prometheus/prometheus:v2.54.1"
    body = """ts=2026-11-20T08:57:41.102Z caller=main.go:601 level=info msg="No time or size retention was set so using the default time retention" duration=15d
ts=2026-11-20T08:57:41.102Z caller=main.go:645 level=info msg="Starting Prometheus Server" mode=server version="(version=2.54.1, branch=HEAD, revision=e6cfa720fbe6280153fab13090a483dbd40bece3)"
ts=2026-11-20T08:57:41.102Z caller=main.go:650 level=info build_context="(go=go1.22.6, platform=linux/amd64, user=root@812ffd741951, date=20240827-10:56:41, tags=netgo,builtinassets,stringlabels)"
ts=2026-11-20T08:57:41.102Z caller=main.go:651 level=info host_details="(Linux 6.1.0-26-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30) x86_64 prometheus-7b9c6d5f4-x2kqp (none))"
ts=2026-11-20T08:57:41.104Z caller=main.go:1353 level=info msg="Loading configuration file" filename=/etc/prometheus/prometheus.yml
ts=2026-11-20T08:57:41.105Z caller=main.go:1103 level=error msg="Error loading config (--config.file=/etc/prometheus/prometheus.yml)" file=/etc/prometheus/prometheus.yml err="parsing YAML file /etc/prometheus/prometheus.yml: yaml: unmarshal errors:\\n  line 23: field scrape_intervall not found in type config.ScrapeConfig"
ts=2026-11-20T08:57:41.105Z caller=main.go:1131 level=info msg="See you next time!"
"""
    d, pods = crash_looping_with_log(s, "prometheus", image, body, ports=(("web", 9090),), code=1,
                       args=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                             "--web.enable-lifecycle"],
                       resources={"limits": {"memory": "2Gi"}, "requests": {"cpu": "250m", "memory": "2Gi"}})
    s.expect["findings"] = [F("CrashLoopBackOff", "Deployment", "prometheus", severity="critical",
                              root_cause=["scrape_intervall"],
                              evidence=["line 23: field scrape_intervall not found"])]
    return s


@scenario
def s48():
    s = Scenario("48-unschedulable-memory-as-written", "analytics",
                 "the feature-store loader stays Pending: it requests 64Gi of memory and the nodes have 16Gi; the finding quotes 64Gi as the spec writes it")
    cluster(s)
    image = "registry.example.com/analytics/feature-loader:1.3.0"
    cont = container("loader", image, resources={"limits": {"memory": "64Gi"}, "requests": {"cpu": "2", "memory": "64Gi"}})
    d, rs, pods, _ = app(s, "feature-loader", [cont], replicas=1, scheduled=False, statuses=lambda i: [],
                         created_days=0, progressing="deadline")
    d["metadata"]["creationTimestamp"] = ts(38)
    msg = "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    for p in pods:
        unschedulable(p, msg)
        s.scheduler_event(p["metadata"]["name"], msg, when=ts(37.9), count=11, last=ts(1.5))
    s.expect["findings"] = [F("Unschedulable", "Deployment", "feature-loader", evidence=["memory 64Gi"],
                              root_cause=["64Gi"])]
    return s
