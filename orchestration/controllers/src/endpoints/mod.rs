//! The Endpoints controller (`pkg/controller/endpoint/endpoints_controller.go`,
//! Kubernetes 1.33): a Service with a selector gets an Endpoints object of
//! the same name listing its pods.
//!
//! ```text
//!   service + pods in its namespace + the current Endpoints
//!     │ pods matching spec.selector, not finished, with an IP, not being
//!     │ deleted (unless publishNotReadyAddresses)
//!     │ per service port: the pod's port (targetPort number, or the
//!     │ container port of that name and protocol; none ─► skipped)
//!     │ ready (or publishNotReadyAddresses) ─► addresses, else notReadyAddresses
//!     ▼ repack: pods offering the same ports share a subset; sorted
//!   EndpointsSync::{Ignore, Unchanged, Create, Update}
//! ```
//!
//! The sort order is keel's own and stable (addresses by IP then pod uid,
//! ports by name, number and protocol, subsets by their first address):
//! Kubernetes orders ports and subsets by a hash of their Go structs,
//! which no client relies on. The `last-change-trigger-time` annotation is
//! not managed (it needs the trigger-time tracker's memory); an existing
//! one is kept. When a Service is deleted, the adapter deletes the
//! Endpoints of the same name.

mod repack;
pub mod run;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use keel_api::k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use keel_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use keel_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::pods::{is_ready, is_terminal, is_terminating};

pub use repack::repack_subsets;

/// The label of a headless Service's Endpoints.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// The annotation of an Endpoints cut down to [`ADDRESSES_MAX`].
pub const OVER_CAPACITY_ANNOTATION: &str = "endpoints.kubernetes.io/over-capacity";
/// At most this many addresses go into one Endpoints (`maxCapacity`);
/// EndpointSlices carry the rest.
pub const ADDRESSES_MAX: usize = 1000;

/// What to do with a Service's Endpoints.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointsSync {
    /// Not this controller's: an ExternalName Service, or one without a
    /// selector (its Endpoints are written by hand).
    Ignore,
    /// The Endpoints are as they should be: write nothing.
    Unchanged,
    /// Create these Endpoints.
    Create(Endpoints),
    /// Replace the current Endpoints with these.
    Update(Endpoints),
}

fn selects(service: &Service, pod: &Pod) -> bool {
    let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value))
}

/// Whether a pod belongs in Endpoints at all (`ShouldPodBeInEndpoints`).
fn eligible(pod: &Pod, include_terminating: bool) -> bool {
    let status = pod.status.as_ref();
    let has_ip = status
        .and_then(|s| s.pod_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty())
        || status
            .and_then(|s| s.pod_ips.as_ref())
            .is_some_and(|ips| !ips.is_empty());
    !is_terminal(pod) && has_ip && (include_terminating || !is_terminating(pod))
}

/// Whether the Service has a cluster IP (`helper.IsServiceIPSet`).
fn has_cluster_ip(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty() && ip != "None")
}

/// The pod's address for the Service's IP family
/// (`podToEndpointAddressForService`), with its node and a reference to it.
fn address(service: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let spec = service.spec.as_ref();
    let want_v6 = if has_cluster_ip(service) {
        spec.and_then(|s| s.cluster_ip.as_deref())
            .is_some_and(|ip| ip.contains(':'))
    } else {
        spec.and_then(|s| s.ip_families.as_ref())
            .and_then(|f| f.first())
            .is_some_and(|f| f == "IPv6")
    };
    let status = pod.status.as_ref()?;
    let ips: Vec<&str> = match status.pod_ips.as_ref().filter(|ips| !ips.is_empty()) {
        Some(ips) => ips.iter().map(|ip| ip.ip.as_str()).collect(),
        None => status.pod_ip.as_deref().into_iter().collect(),
    };
    let ip = ips.into_iter().find(|ip| ip.contains(':') == want_v6)?;
    let pod_spec = pod.spec.as_ref();
    // `ShouldSetHostname`: a pod naming the Service as its subdomain.
    let hostname = pod_spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .filter(|_| {
            pod_spec.and_then(|s| s.subdomain.as_deref()) == service.metadata.name.as_deref()
                && pod.metadata.namespace == service.metadata.namespace
        });
    Some(EndpointAddress {
        ip: ip.to_owned(),
        hostname,
        node_name: Some(
            pod_spec
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
        ),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
    })
}

fn protocol(protocol: Option<&String>) -> &str {
    protocol.map_or("TCP", String::as_str)
}

/// The pod's port for a service port (`podutil.FindPort`): a number
/// as it is; a name, the container port of that name and protocol.
pub fn find_port(pod: &Pod, service_port: &ServicePort) -> Option<i32> {
    match &service_port.target_port {
        None => Some(service_port.port),
        Some(IntOrString::Int(port)) => Some(*port),
        Some(IntOrString::String(name)) => {
            let spec = pod.spec.as_ref()?;
            // Sidecars (init containers that keep running) count too.
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && protocol(p.protocol.as_ref()) == protocol(service_port.protocol.as_ref())
                })
                .map(|p| p.container_port)
        }
    }
}

/// The subsets of `service` over `pods` (the pods of its namespace),
/// repacked and sorted.
pub fn subsets(service: &Service, pods: &[Pod]) -> Vec<EndpointSubset> {
    let spec = service.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
    let ports = spec.ports.unwrap_or_default();
    let mut pieces = Vec::new();
    for pod in pods.iter().filter(|p| selects(service, p)) {
        if !eligible(pod, publish_not_ready) {
            continue;
        }
        let Some(address) = address(service, pod) else {
            continue;
        };
        let ready = publish_not_ready || is_ready(pod);
        let piece = |ports: Vec<EndpointPort>| {
            let (addresses, not_ready) = if ready {
                (Some(vec![address.clone()]), None)
            } else {
                (None, Some(vec![address.clone()]))
            };
            EndpointSubset {
                addresses,
                not_ready_addresses: not_ready,
                ports: Some(ports),
            }
        };
        if ports.is_empty() {
            // A headless Service may have no ports.
            if spec.cluster_ip.as_deref() == Some("None") {
                pieces.push(piece(Vec::new()));
            }
            continue;
        }
        for service_port in &ports {
            let Some(number) = find_port(pod, service_port) else {
                continue;
            };
            pieces.push(piece(vec![EndpointPort {
                name: service_port.name.clone(),
                port: number,
                protocol: Some(protocol(service_port.protocol.as_ref()).to_owned()),
                app_protocol: service_port.app_protocol.clone(),
            }]));
        }
    }
    repack_subsets(&pieces)
}

/// Cuts subsets down to [`ADDRESSES_MAX`] addresses (`truncateEndpoints`):
/// not-ready ones go first; each subset keeps its share, rounded up.
/// Returns whether anything was cut.
fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let count = |l: &Option<Vec<EndpointAddress>>| l.as_ref().map_or(0, Vec::len);
    let ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
    let not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
    if ready + not_ready <= ADDRESSES_MAX {
        return false;
    }
    let cut_ready = ready > ADDRESSES_MAX;
    let (room, total) = if cut_ready {
        (ADDRESSES_MAX, ready)
    } else {
        (ADDRESSES_MAX - ready, not_ready)
    };
    let mut left = room;
    for subset in subsets {
        let list = if cut_ready {
            subset.not_ready_addresses = None;
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        let here = count(list);
        let share = (here * room).div_ceil(total).min(left);
        if let Some(list) = list.as_mut() {
            list.truncate(share);
        }
        left -= share.min(here);
    }
    true
}

/// Subsets equal but for the pods' resourceVersions in targetRef
/// (`endpointSubsetsEqualIgnoreResourceVersion`).
fn same_subsets(a: &[EndpointSubset], b: &[EndpointSubset]) -> bool {
    let strip = |subsets: &[EndpointSubset]| {
        let mut subsets = subsets.to_vec();
        for subset in &mut subsets {
            let lists = subset
                .addresses
                .iter_mut()
                .chain(subset.not_ready_addresses.iter_mut());
            for address in lists.flatten() {
                if let Some(target) = address.target_ref.as_mut() {
                    target.resource_version = None;
                }
            }
        }
        subsets
    };
    strip(a) == strip(b)
}

/// Decides the Endpoints of `service`, given the pods of its namespace and
/// the Endpoints it has now (`syncService`).
pub fn sync(service: &Service, pods: &[Pod], current: Option<&Endpoints>) -> EndpointsSync {
    let spec = service.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName")
        || spec
            .and_then(|s| s.selector.as_ref())
            .is_none_or(BTreeMap::is_empty)
    {
        return EndpointsSync::Ignore;
    }
    let mut subsets = subsets(service, pods);
    let service_labels = service.metadata.labels.clone().unwrap_or_default();
    if let Some(current) = current {
        let mut labels = current.metadata.labels.clone().unwrap_or_default();
        labels.remove(HEADLESS_LABEL);
        let addresses: usize = subsets
            .iter()
            .map(|s| {
                s.addresses.as_ref().map_or(0, Vec::len)
                    + s.not_ready_addresses.as_ref().map_or(0, Vec::len)
            })
            .sum();
        let capacity_marked = current
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(OVER_CAPACITY_ANNOTATION));
        if same_subsets(current.subsets.as_deref().unwrap_or(&[]), &subsets)
            && labels == service_labels
            && addresses <= ADDRESSES_MAX
            && !capacity_marked
        {
            return EndpointsSync::Unchanged;
        }
    }
    let mut metadata = current.map_or_else(
        || ObjectMeta {
            name: service.metadata.name.clone(),
            namespace: service.metadata.namespace.clone(),
            ..ObjectMeta::default()
        },
        |c| c.metadata.clone(),
    );
    let mut annotations = metadata.annotations.take().unwrap_or_default();
    if truncate(&mut subsets) {
        annotations.insert(OVER_CAPACITY_ANNOTATION.into(), "truncated".into());
    } else {
        annotations.remove(OVER_CAPACITY_ANNOTATION);
    }
    metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    let mut labels = service_labels;
    if !has_cluster_ip(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    metadata.labels = (!labels.is_empty()).then_some(labels);
    let endpoints = Endpoints {
        metadata,
        subsets: (!subsets.is_empty()).then_some(subsets),
    };
    if current.is_some() {
        EndpointsSync::Update(endpoints)
    } else {
        EndpointsSync::Create(endpoints)
    }
}
