//! Rows of the core kinds other than pods, and of leases: printers.go
//! `printNamespace`, `printNode`, `printService`, `printEndpoints`,
//! `printConfigMap`, `printSecret`, `printEvent` and `printLease` of
//! Kubernetes 1.33.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, Node, NodeStatus, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use serde_json::Value;

use super::cells::{age, format_labels, go_zero_time, since};
use super::{decode, Column, Row, AGE, NAME, NAME_DESCRIPTION};

/// printers.go `namespaceColumnDefinitions`.
pub(super) const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the namespace"),
    AGE,
];

/// NAME, STATUS (the phase), AGE.
pub(super) fn namespace_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let namespace: Namespace = decode(object)?;
    let phase = namespace.status.and_then(|status| status.phase);
    Ok(cells(vec![
        namespace.metadata.name.clone().unwrap_or_default().into(),
        phase.unwrap_or_default().into(),
        age(namespace.metadata.creation_timestamp.as_ref(), now).into(),
    ]))
}

/// NodeStatus' description of `addresses`, on both IP columns.
const NODE_ADDRESSES_DESCRIPTION: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";

/// printers.go `nodeColumnDefinitions`.
pub(super) const NODE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the node"),
    Column::new("Roles", "string", "The roles of the node"),
    AGE,
    Column::new("Version", "string", "Kubelet Version reported by the node."),
    Column::wide("Internal-IP", "string", NODE_ADDRESSES_DESCRIPTION),
    Column::wide("External-IP", "string", NODE_ADDRESSES_DESCRIPTION),
    Column::wide(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    Column::wide(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    Column::wide(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

/// The label prefix naming a node's roles (`node-role.kubernetes.io/<role>`).
const NODE_ROLE_LABEL_PREFIX: &str = "node-role.kubernetes.io/";

/// The older label naming a node's role in its value.
const NODE_ROLE_LABEL: &str = "kubernetes.io/role";

/// NAME, STATUS (Ready / NotReady / Unknown, SchedulingDisabled), ROLES,
/// AGE, VERSION; wide: the IPs, OS image, kernel and runtime versions.
pub(super) fn node_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let node: Node = decode(object)?;
    let status = node.status.unwrap_or_default();
    // printers.go keeps the last condition of each type and looks at Ready.
    let ready = status
        .conditions
        .iter()
        .flatten()
        .rfind(|condition| condition.type_ == "Ready");
    let mut states = vec![match ready {
        Some(condition) if condition.status == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.spec.and_then(|spec| spec.unschedulable) == Some(true) {
        states.push("SchedulingDisabled");
    }
    let roles: BTreeSet<&str> = node
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(
            |(key, value)| match key.strip_prefix(NODE_ROLE_LABEL_PREFIX) {
                Some(role) if !role.is_empty() => Some(role),
                Some(_) => None,
                None => (key == NODE_ROLE_LABEL && !value.is_empty()).then_some(value.as_str()),
            },
        )
        .collect();
    let roles = if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let info = status.node_info.clone().unwrap_or_default();
    let or_unknown = |value: String| {
        if value.is_empty() {
            "<unknown>".to_owned()
        } else {
            value
        }
    };
    Ok(cells(vec![
        node.metadata.name.clone().unwrap_or_default().into(),
        states.join(",").into(),
        roles.into(),
        age(node.metadata.creation_timestamp.as_ref(), now).into(),
        info.kubelet_version.into(),
        node_address(&status, "InternalIP").into(),
        node_address(&status, "ExternalIP").into(),
        or_unknown(info.os_image).into(),
        or_unknown(info.kernel_version).into(),
        or_unknown(info.container_runtime_version).into(),
    ]))
}

/// The node's first address of `address_type`, "<none>" if it has none.
fn node_address(status: &NodeStatus, address_type: &str) -> String {
    status
        .addresses
        .iter()
        .flatten()
        .find(|address| address.type_ == address_type)
        .map_or_else(|| "<none>".to_owned(), |address| address.address.clone())
}

/// printers.go `serviceColumnDefinitions`.
pub(super) const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Type",
        "string",
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types",
    ),
    Column::new(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
    ),
    Column::new(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.",
    ),
    Column::new(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
    ),
    AGE,
    Column::wide(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/",
    ),
];

/// NAME, TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S) ("80:30080/TCP"), AGE;
/// wide: SELECTOR.
pub(super) fn service_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let service: Service = decode(object)?;
    let spec = service.spec.unwrap_or_default();
    // kube-apiserver's internal form: clusterIP wins over clusterIPs[0]
    // (pkg/apis/core/v1 Convert_v1_ServiceSpec_To_core_ServiceSpec).
    let cluster_ip = spec
        .cluster_ip
        .clone()
        .filter(|ip| !ip.is_empty())
        .or_else(|| spec.cluster_ips.iter().flatten().next().cloned())
        .unwrap_or_else(|| "<none>".to_owned());
    let external_ips = spec.external_ips.clone().unwrap_or_default();
    let service_type = spec.type_.clone().unwrap_or_default();
    let external_ip = match service_type.as_str() {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_owned(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            // loadBalancerStatusStringer, wide (never cut to 16 characters).
            let balancers: BTreeSet<String> = service
                .status
                .and_then(|status| status.load_balancer)
                .and_then(|load_balancer| load_balancer.ingress)
                .into_iter()
                .flatten()
                .filter_map(|ingress| {
                    ingress
                        .ip
                        .filter(|ip| !ip.is_empty())
                        .or(ingress.hostname.filter(|hostname| !hostname.is_empty()))
                })
                .collect();
            let mut all: Vec<String> = balancers.into_iter().collect();
            all.extend(external_ips);
            if all.is_empty() {
                "<pending>".to_owned()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => spec.external_name.clone().unwrap_or_default(),
        _ => "<unknown>".to_owned(),
    };
    let ports = spec
        .ports
        .iter()
        .flatten()
        .map(|port| {
            let protocol = port.protocol.as_deref().unwrap_or_default();
            match port.node_port.filter(|node_port| *node_port > 0) {
                Some(node_port) => format!("{}:{node_port}/{protocol}", port.port),
                None => format!("{}/{protocol}", port.port),
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    Ok(cells(vec![
        service.metadata.name.clone().unwrap_or_default().into(),
        service_type.into(),
        cluster_ip.into(),
        external_ip.into(),
        if ports.is_empty() {
            "<none>".to_owned()
        } else {
            ports
        }
        .into(),
        age(service.metadata.creation_timestamp.as_ref(), now).into(),
        format_labels(spec.selector.as_ref()).into(),
    ]))
}

/// printers.go `endpointColumnDefinitions`.
pub(super) const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.",
    ),
    AGE,
];

/// How many endpoints the cell lists before "+ N more...".
const ENDPOINTS_SHOWN_MAX: usize = 3;

/// NAME, ENDPOINTS (printers.go `formatEndpoints`: up to three "ip:port",
/// then "+ N more..."; "<none>" without subsets), AGE.
pub(super) fn endpoints_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let endpoints: Endpoints = decode(object)?;
    let subsets = endpoints.subsets.unwrap_or_default();
    let formatted = if subsets.is_empty() {
        "<none>".to_owned()
    } else {
        let mut shown: Vec<String> = Vec::new();
        let mut count = 0;
        for subset in &subsets {
            let addresses = subset.addresses.as_deref().unwrap_or_default();
            let ports = subset.ports.as_deref().unwrap_or_default();
            // A headless service's subsets may have no ports: bare IPs.
            let port_numbers: Vec<Option<i32>> = if ports.is_empty() {
                vec![None]
            } else {
                ports.iter().map(|port| Some(port.port)).collect()
            };
            for port in port_numbers {
                count += addresses.len();
                for address in addresses
                    .iter()
                    .take(ENDPOINTS_SHOWN_MAX.saturating_sub(shown.len()))
                {
                    shown.push(match port {
                        Some(port) => join_host_port(&address.ip, port),
                        None => address.ip.clone(),
                    });
                }
            }
        }
        let joined = shown.join(",");
        if count > ENDPOINTS_SHOWN_MAX {
            format!("{joined} + {} more...", count - ENDPOINTS_SHOWN_MAX)
        } else {
            joined
        }
    };
    Ok(cells(vec![
        endpoints.metadata.name.clone().unwrap_or_default().into(),
        formatted.into(),
        age(endpoints.metadata.creation_timestamp.as_ref(), now).into(),
    ]))
}

/// Go's `net.JoinHostPort`: "ip:port", "[ip]:port" for an address with a
/// colon (IPv6).
fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// printers.go `configMapColumnDefinitions`.
pub(super) const CONFIG_MAP_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Data",
        "string",
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
    ),
    AGE,
];

/// NAME, DATA (keys of data and binaryData), AGE.
pub(super) fn config_map_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let config_map: ConfigMap = decode(object)?;
    let keys = config_map.data.as_ref().map_or(0, BTreeMap::len)
        + config_map.binary_data.as_ref().map_or(0, BTreeMap::len);
    Ok(cells(vec![
        config_map.metadata.name.clone().unwrap_or_default().into(),
        keys.into(),
        age(config_map.metadata.creation_timestamp.as_ref(), now).into(),
    ]))
}

/// printers.go `secretColumnDefinitions`.
pub(super) const SECRET_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
    ),
    Column::new(
        "Data",
        "string",
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
    ),
    AGE,
];

/// NAME, TYPE, DATA (keys of data), AGE.
pub(super) fn secret_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let secret: Secret = decode(object)?;
    Ok(cells(vec![
        secret.metadata.name.clone().unwrap_or_default().into(),
        secret.type_.clone().unwrap_or_default().into(),
        secret.data.as_ref().map_or(0, BTreeMap::len).into(),
        age(secret.metadata.creation_timestamp.as_ref(), now).into(),
    ]))
}

/// printers.go `eventColumnDefinitions` (1.33: LAST SEEN, TYPE, REASON,
/// OBJECT, MESSAGE; wide adds SUBOBJECT and SOURCE before MESSAGE, FIRST
/// SEEN, COUNT and NAME after).
pub(super) const EVENT_COLUMNS: &[Column] = &[
    Column::new(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    Column::new(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    Column::new(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    Column::new("Object", "string", "The object that this event is about."),
    Column::wide(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.",
    ),
    Column::wide(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    Column::new(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    Column::wide(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    Column::wide(
        "Count",
        "string",
        "The number of times this event has occurred.",
    ),
    Column {
        format: "name",
        ..Column::wide("Name", "string", NAME_DESCRIPTION)
    },
];

/// printers.go `translateMicroTimestampSince`.
fn micro_age(timestamp: Option<&MicroTime>, now: Timestamp) -> String {
    since(timestamp.map_or_else(go_zero_time, |time| time.0), now)
}

/// LAST SEEN, TYPE, REASON, OBJECT ("kind/name" in lower case), SUBOBJECT,
/// SOURCE, MESSAGE, FIRST SEEN, COUNT, NAME.
pub(super) fn event_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let event: Event = decode(object)?;
    let first_seen = match event.first_timestamp.as_ref() {
        Some(first) if first.0 != go_zero_time() => since(first.0, now),
        _ => micro_age(event.event_time.as_ref(), now),
    };
    let mut last_seen = match event.last_timestamp.as_ref() {
        Some(last) if last.0 != go_zero_time() => since(last.0, now),
        _ => first_seen.clone(),
    };
    let mut count = event.count.unwrap_or_default();
    if let Some(series) = event.series.as_ref() {
        last_seen = micro_age(series.last_observed_time.as_ref(), now);
        count = series.count.unwrap_or_default();
    } else if count == 0 {
        // Singleton events of the events.k8s.io API carry no count.
        count = 1;
    }
    let involved = &event.involved_object;
    let kind = involved.kind.as_deref().unwrap_or_default().to_lowercase();
    let target = match involved.name.as_deref() {
        Some(name) if !name.is_empty() => format!("{kind}/{name}"),
        _ => kind,
    };
    // printers.go formatEventSource: the component (else the reporting
    // controller), then ", " and the host (else the reporting instance).
    let source = event.source.clone().unwrap_or_default();
    let first_non_empty = |first: Option<String>, second: Option<String>| {
        first
            .filter(|value| !value.is_empty())
            .or(second)
            .unwrap_or_default()
    };
    let component = first_non_empty(source.component, event.reporting_component.clone());
    let host = first_non_empty(source.host, event.reporting_instance.clone());
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    Ok(cells(vec![
        last_seen.into(),
        event.type_.clone().unwrap_or_default().into(),
        event.reason.clone().unwrap_or_default().into(),
        target.into(),
        involved.field_path.clone().unwrap_or_default().into(),
        source.into(),
        event.message.as_deref().unwrap_or_default().trim().into(),
        first_seen.into(),
        i64::from(count).into(),
        event.metadata.name.clone().unwrap_or_default().into(),
    ]))
}

/// printers.go `leaseColumnDefinitions`.
pub(super) const LEASE_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
    ),
    AGE,
];

/// NAME, HOLDER, AGE.
pub(super) fn lease_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let lease: Lease = decode(object)?;
    let holder = lease.spec.and_then(|spec| spec.holder_identity);
    Ok(cells(vec![
        lease.metadata.name.clone().unwrap_or_default().into(),
        holder.unwrap_or_default().into(),
        age(lease.metadata.creation_timestamp.as_ref(), now).into(),
    ]))
}

/// A row of just cells.
fn cells(cells: Vec<Value>) -> Row {
    Row {
        cells,
        conditions: Vec::new(),
    }
}
