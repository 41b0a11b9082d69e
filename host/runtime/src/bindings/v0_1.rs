//! `guardian:skill@0.1.0` — frozen. Its types are the 0.2 types (identical
//! records); its functions forward to the 0.2 host implementation.

use wasmtime::component::HasSelf;

use super::latest;
use crate::host::HostState;

wasmtime::component::bindgen!({
    path: "../../wit/since_v0.1.0",
    world: "skill",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "guardian:skill/types": super::latest::guardian::skill::types,
    },
});

use guardian::skill::{actions, kube, log, metrics};
use latest::types::{
    ApiResource, ContainerUsage, HostError, Level, ListOptions, LogOptions, ObjectRef, Proposal,
};

type HostResult<T> = wasmtime::Result<Result<T, HostError>>;

impl kube::Host for HostState {
    async fn get(
        &mut self,
        resource: String,
        namespace: Option<String>,
        name: String,
    ) -> HostResult<String> {
        latest::guardian::skill::kube::Host::get(self, resource, namespace, name).await
    }

    async fn list(&mut self, resource: String, options: ListOptions) -> HostResult<String> {
        latest::guardian::skill::kube::Host::list(self, resource, options).await
    }

    async fn logs(
        &mut self,
        namespace: String,
        pod: String,
        options: LogOptions,
    ) -> HostResult<String> {
        latest::guardian::skill::kube::Host::logs(self, namespace, pod, options).await
    }

    async fn events(&mut self, object: ObjectRef) -> HostResult<String> {
        latest::guardian::skill::kube::Host::events(self, object).await
    }

    async fn dry_run_patch(
        &mut self,
        resource: String,
        namespace: Option<String>,
        name: String,
        json_patch: String,
    ) -> HostResult<String> {
        latest::guardian::skill::kube::Host::dry_run_patch(
            self, resource, namespace, name, json_patch,
        )
        .await
    }

    async fn api_resources(&mut self) -> HostResult<Vec<ApiResource>> {
        latest::guardian::skill::kube::Host::api_resources(self).await
    }
}

impl metrics::Host for HostState {
    async fn pod_usage(
        &mut self,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> HostResult<Vec<ContainerUsage>> {
        latest::guardian::skill::metrics::Host::pod_usage(self, namespace, label_selector).await
    }

    async fn query(&mut self, promql: String, at: Option<String>) -> HostResult<String> {
        latest::guardian::skill::metrics::Host::query(self, promql, at).await
    }

    async fn query_range(
        &mut self,
        promql: String,
        start: String,
        end: String,
        step: String,
    ) -> HostResult<String> {
        latest::guardian::skill::metrics::Host::query_range(self, promql, start, end, step).await
    }
}

impl actions::Host for HostState {
    async fn propose(&mut self, proposal: Proposal) -> HostResult<String> {
        latest::guardian::skill::actions::Host::propose(self, proposal).await
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        latest::guardian::skill::log::Host::log(self, level, message).await
    }
}

/// Registers the 0.1.0 imports in `linker`.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    Skill::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
