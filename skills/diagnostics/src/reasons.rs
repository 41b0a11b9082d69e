//! The machine-readable `reason` codes of findings. Every code a finding can
//! carry is a constant here and a row of the table in `docs/diagnostics.md`.
//! Codes are stable: scripts and alerts match on them.

// Pods and workloads
pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";
pub const INVALID_IMAGE_NAME: &str = "InvalidImageName";
pub const OOM_KILLED: &str = "OOMKilled";
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";
pub const CREATE_CONTAINER_ERROR: &str = "CreateContainerError";
pub const CONTAINER_FAILING: &str = "ContainerFailing";
pub const INIT_CONTAINER_FAILING: &str = "InitContainerFailing";
pub const UNSCHEDULABLE: &str = "Unschedulable";
pub const POD_PENDING: &str = "PodPending";
pub const EVICTED: &str = "Evicted";
pub const PROBE_FAILING: &str = "ProbeFailing";
pub const MISSING_CONFIG_REFERENCE: &str = "MissingConfigReference";
pub const LOG_ERRORS: &str = "LogErrors";
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
pub const REPLICAS_UNAVAILABLE: &str = "ReplicasUnavailable";
pub const REPLICA_SET_CREATE_FAILED: &str = "ReplicaSetCreateFailed";
pub const STATEFUL_SET_SERVICE_MISSING: &str = "StatefulSetServiceMissing";
pub const DAEMON_SET_MISSCHEDULED: &str = "DaemonSetMisscheduled";
pub const JOB_FAILED: &str = "JobFailed";
pub const CRON_JOB_INVALID_SCHEDULE: &str = "CronJobInvalidSchedule";
pub const CRON_JOB_SUSPENDED: &str = "CronJobSuspended";
pub const CRON_JOB_LAST_RUN_FAILED: &str = "CronJobLastRunFailed";
// Services and networking
pub const SERVICE_NO_ENDPOINTS: &str = "ServiceNoEndpoints";
pub const SERVICE_SELECTOR_MISMATCH: &str = "ServiceSelectorMismatch";
pub const SERVICE_TARGET_PORT_MISMATCH: &str = "ServiceTargetPortMismatch";
pub const INGRESS_CLASS_NOT_FOUND: &str = "IngressClassNotFound";
pub const INGRESS_BACKEND_NOT_FOUND: &str = "IngressBackendNotFound";
pub const INGRESS_TLS_SECRET_NOT_FOUND: &str = "IngressTLSSecretNotFound";
pub const NETWORK_POLICY_NO_PODS: &str = "NetworkPolicyNoPods";
pub const NETWORK_POLICY_DENY_ALL: &str = "NetworkPolicyDenyAll";
pub const GATEWAY_CLASS_NOT_ACCEPTED: &str = "GatewayClassNotAccepted";
pub const GATEWAY_CLASS_NOT_FOUND: &str = "GatewayClassNotFound";
pub const GATEWAY_NOT_ACCEPTED: &str = "GatewayNotAccepted";
pub const HTTP_ROUTE_PARENT_NOT_FOUND: &str = "HTTPRouteParentNotFound";
pub const HTTP_ROUTE_BACKEND_NOT_FOUND: &str = "HTTPRouteBackendNotFound";
pub const HTTP_ROUTE_NOT_ACCEPTED: &str = "HTTPRouteNotAccepted";
// Storage
pub const PVC_PENDING: &str = "PVCPending";
pub const PVC_LOST: &str = "PVCLost";
pub const PV_FAILED: &str = "PVFailed";
pub const PV_RELEASED: &str = "PVReleased";
pub const MULTIPLE_DEFAULT_STORAGE_CLASSES: &str = "MultipleDefaultStorageClasses";
// Nodes
pub const NODE_NOT_READY: &str = "NodeNotReady";
pub const NODE_PRESSURE: &str = "NodePressure";
pub const NODE_UNSCHEDULABLE: &str = "NodeUnschedulable";
// Admission webhooks
pub const WEBHOOK_SERVICE_NOT_FOUND: &str = "WebhookServiceNotFound";
pub const WEBHOOK_NO_ENDPOINTS: &str = "WebhookNoEndpoints";
// Configuration and scaling
pub const CONFIG_MAP_UNUSED: &str = "ConfigMapUnused";
pub const HPA_MISSING_REQUESTS: &str = "HPAMissingRequests";
pub const HPA_TARGET_NOT_FOUND: &str = "HPATargetNotFound";
pub const HPA_AT_MAX_REPLICAS: &str = "HPAAtMaxReplicas";
pub const HPA_METRICS_UNAVAILABLE: &str = "HPAMetricsUnavailable";
pub const PDB_BLOCKS_EVICTION: &str = "PDBBlocksEviction";
pub const PDB_NO_MATCHING_PODS: &str = "PDBNoMatchingPods";
// Security posture
pub const PRIVILEGED_CONTAINER: &str = "PrivilegedContainer";
pub const HOST_NAMESPACE: &str = "HostNamespace";
pub const RUNS_AS_ROOT: &str = "RunsAsRoot";
pub const DEFAULT_SERVICE_ACCOUNT: &str = "DefaultServiceAccount";
// GitOps (Argo CD Applications)
pub const ARGO_COMPARISON_ERROR: &str = "ArgoComparisonError";
pub const ARGO_INVALID_SPEC: &str = "ArgoInvalidSpec";
pub const ARGO_SYNC_FAILED: &str = "ArgoSyncFailed";
pub const ARGO_OUT_OF_SYNC: &str = "ArgoOutOfSync";
pub const ARGO_DEGRADED: &str = "ArgoDegraded";
pub const ARGO_SYNC_STUCK: &str = "ArgoSyncStuck";
