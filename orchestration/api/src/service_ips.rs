//! Services' cluster IPs, allocated as kube-apiserver 1.33 allocates them
//! (the IPAddress allocator, `pkg/registry/core/service/ipallocator`):
//! one `networking.k8s.io/v1` IPAddress object per address, under
//! `/registry/ipaddresses/<ip>`, written in the same transaction as the
//! Service, so that an address is never given twice.
//!
//! ```text
//!   Service without clusterIP ─► a random free address of 10.96.0.0/12
//!                                (10.96.0.1 kept for the kubernetes Service)
//!   Service naming its clusterIP ─► that address, if in range and free
//!   headless ("None") or ExternalName ─► none
//!   create: Txn[service absent, ip absent] put service, put IPAddress
//!   delete: Txn[service at rv] delete service, delete IPAddress
//! ```

use std::net::Ipv4Addr;

use serde_json::{json, Value};

/// The service CIDR's first address (kube-apiserver's default
/// `--service-cluster-ip-range`, 10.96.0.0/12).
const RANGE_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
/// The CIDR's prefix length.
const RANGE_PREFIX: u32 = 12;
/// The range as kube-apiserver's messages print it.
pub const RANGE: &str = "10.96.0.0/12";

/// How many addresses the range holds.
fn range_size() -> u32 {
    1 << (32 - RANGE_PREFIX)
}

/// What a Service asks of the allocator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// No address: headless, or ExternalName.
    None,
    /// Any free address.
    Any,
    /// This address.
    Exactly(Ipv4Addr),
}

/// Why an address cannot be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    /// The address is outside the range.
    #[error("failed to allocate IP {0}: the provided IP ({0}) is not in the valid range. The range of valid IPs is {RANGE}")]
    OutOfRange(String),
    /// The address is not an IPv4 address (keel's range is IPv4 only).
    #[error("failed to allocate IP {0}: not a valid IPv4 address")]
    NotAnAddress(String),
}

/// What the Service (after defaulting) asks for.
pub fn request(service: &Value) -> Result<Request, AllocationError> {
    let spec = service.get("spec").unwrap_or(&Value::Null);
    if spec.get("type").and_then(Value::as_str) == Some("ExternalName") {
        return Ok(Request::None);
    }
    let named = spec
        .pointer("/clusterIPs/0")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .or_else(|| spec.get("clusterIP").and_then(Value::as_str))
        .unwrap_or("");
    match named {
        "" => Ok(Request::Any),
        "None" => Ok(Request::None),
        text => {
            let ip: Ipv4Addr = text
                .parse()
                .map_err(|_| AllocationError::NotAnAddress(text.to_owned()))?;
            let offset = u32::from(ip).wrapping_sub(RANGE_BASE);
            if offset == 0 || offset >= range_size() - 1 {
                return Err(AllocationError::OutOfRange(text.to_owned()));
            }
            Ok(Request::Exactly(ip))
        }
    }
}

/// A candidate address from a random number: any host address of the
/// range but the first (kept for the `kubernetes` Service).
pub fn candidate(random: u32) -> Ipv4Addr {
    // Offsets 2 ..= size - 2: not the network, not .1, not broadcast.
    let hosts = range_size() - 3;
    Ipv4Addr::from(RANGE_BASE + 2 + random % hosts)
}

/// The key of an address's IPAddress object.
pub fn key(ip: Ipv4Addr) -> String {
    format!("/registry/ipaddresses/{ip}")
}

/// The IPAddress object recording that `ip` is the cluster IP of Service
/// `namespace/name`.
pub fn record(ip: Ipv4Addr, namespace: &str, name: &str, uid: &str, now: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IPAddress",
        "metadata": {
            "name": ip.to_string(),
            "uid": uid,
            "creationTimestamp": now,
            "labels": {
                "ipaddress.kubernetes.io/ip-family": "IPv4",
                "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
            },
        },
        "spec": {"parentRef": {"group": "", "resource": "services",
                               "namespace": namespace, "name": name}},
    })
}

/// Sets the Service's allocated address, as kube-apiserver writes it.
pub fn assign(service: &mut Value, ip: Ipv4Addr) {
    let spec = &mut service["spec"];
    spec["clusterIP"] = ip.to_string().into();
    spec["clusterIPs"] = json!([ip.to_string()]);
    spec["ipFamilies"] = json!(["IPv4"]);
    if spec.get("ipFamilyPolicy").is_none_or(Value::is_null) {
        spec["ipFamilyPolicy"] = "SingleStack".into();
    }
}

/// The address a stored Service holds, if any.
pub fn allocated(service: &Value) -> Option<Ipv4Addr> {
    service
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .and_then(|ip| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn what_a_service_asks_for() {
        let service = |spec: Value| json!({"spec": spec});
        assert_eq!(
            request(&service(json!({"type": "ClusterIP"}))),
            Ok(Request::Any)
        );
        assert_eq!(
            request(&service(json!({"clusterIP": "None"}))),
            Ok(Request::None)
        );
        assert_eq!(
            request(&service(
                json!({"type": "ExternalName", "externalName": "x.example"})
            )),
            Ok(Request::None)
        );
        assert_eq!(
            request(&service(json!({"clusterIP": "10.96.3.4"}))),
            Ok(Request::Exactly(Ipv4Addr::new(10, 96, 3, 4)))
        );
        assert_eq!(
            request(&service(json!({"clusterIP": "10.200.0.1"}))).expect_err("outside").to_string(),
            "failed to allocate IP 10.200.0.1: the provided IP (10.200.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        );
    }

    #[test]
    fn an_assigned_address_reads_back() {
        let mut service = json!({"spec": {"type": "ClusterIP"}});
        assign(&mut service, Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(allocated(&service), Some(Ipv4Addr::new(10, 96, 0, 10)));
        assert_eq!(service["spec"]["clusterIPs"], json!(["10.96.0.10"]));
        assert_eq!(service["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(
            key(Ipv4Addr::new(10, 96, 0, 10)),
            "/registry/ipaddresses/10.96.0.10"
        );
    }

    proptest! {
        #[test]
        fn candidates_are_host_addresses_of_the_range_but_the_first(random: u32) {
            let ip = candidate(random);
            let offset = u32::from(ip) - RANGE_BASE;
            prop_assert!(offset >= 2 && offset < range_size() - 1, "{ip}");
            let asked = request(&json!({"spec": {"clusterIP": ip.to_string()}}));
            prop_assert_eq!(asked, Ok(Request::Exactly(ip)));
        }
    }
}
