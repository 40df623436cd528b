//! `endpoints.RepackSubsets` (`pkg/api/v1/endpoints/util.go`): one subset
//! per pod and port in, the fewest subsets out. Addresses that offer the
//! same set of ports share a subset; an address both ready and not ready
//! for a port counts as ready.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::IpAddr;

use keel_api::k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset};

/// An address's identity: its IP and the uid of the pod it points at.
type AddressKey = (String, String);
/// A port's identity (name, number, protocol, appProtocol); number -1
/// stands for "no port" (a headless Service without ports).
type PortKey = (String, i32, String, String);

fn address_key(address: &EndpointAddress) -> AddressKey {
    let uid = address
        .target_ref
        .as_ref()
        .and_then(|t| t.uid.clone())
        .unwrap_or_default();
    (address.ip.clone(), uid)
}

fn port_key(port: &EndpointPort) -> PortKey {
    (
        port.name.clone().unwrap_or_default(),
        port.port,
        port.protocol.clone().unwrap_or_default(),
        port.app_protocol.clone().unwrap_or_default(),
    )
}

/// IPs compare as numbers, as Go's `bytes.Compare` of 16-byte IPs does.
fn compare_addresses(a: &EndpointAddress, b: &EndpointAddress) -> Ordering {
    let ip = |address: &EndpointAddress| {
        address.ip.parse::<IpAddr>().ok().map(|ip| match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        })
    };
    ip(a)
        .cmp(&ip(b))
        .then_with(|| a.ip.cmp(&b.ip))
        .then_with(|| address_key(a).1.cmp(&address_key(b).1))
}

/// Repacks `subsets` into the fewest subsets, each sorted.
pub fn repack_subsets(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut addresses: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    let mut ports: BTreeMap<PortKey, EndpointPort> = BTreeMap::new();
    // port ─► address ─► ready
    let mut by_port: BTreeMap<PortKey, BTreeMap<AddressKey, bool>> = BTreeMap::new();
    for subset in subsets {
        let no_port = [EndpointPort {
            port: -1,
            ..EndpointPort::default()
        }];
        let subset_ports = match subset.ports.as_deref() {
            Some(list) if !list.is_empty() => list,
            _ => &no_port,
        };
        for port in subset_ports {
            let key = port_key(port);
            ports.entry(key.clone()).or_insert_with(|| port.clone());
            let set = by_port.entry(key).or_default();
            for (list, ready) in [
                (&subset.addresses, true),
                (&subset.not_ready_addresses, false),
            ] {
                for address in list.iter().flatten() {
                    let key = address_key(address);
                    addresses
                        .entry(key.clone())
                        .or_insert_with(|| address.clone());
                    let entry = set.entry(key).or_insert(ready);
                    *entry |= ready;
                }
            }
        }
    }
    // address set ─► the ports it offers
    let mut by_addresses: BTreeMap<Vec<(AddressKey, bool)>, Vec<EndpointPort>> = BTreeMap::new();
    for (port, set) in by_port {
        let key: Vec<(AddressKey, bool)> = set.into_iter().collect();
        let list = by_addresses.entry(key).or_default();
        if port.1 >= 0 {
            list.push(ports[&port].clone());
        }
    }
    let mut out: Vec<EndpointSubset> = by_addresses
        .into_iter()
        .map(|(set, ports)| {
            let mut ready: Vec<EndpointAddress> = Vec::new();
            let mut not_ready: Vec<EndpointAddress> = Vec::new();
            for (key, is_ready) in set {
                let address = addresses[&key].clone();
                if is_ready {
                    ready.push(address);
                } else {
                    not_ready.push(address);
                }
            }
            ready.sort_by(compare_addresses);
            not_ready.sort_by(compare_addresses);
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .filter(|s| s.addresses.is_some() || s.not_ready_addresses.is_some())
        .collect();
    out.sort_by(|a, b| {
        let first = |s: &EndpointSubset| {
            s.addresses
                .iter()
                .chain(s.not_ready_addresses.iter())
                .flatten()
                .next()
                .cloned()
        };
        match (first(a), first(b)) {
            (Some(x), Some(y)) => compare_addresses(&x, &y),
            _ => Ordering::Equal,
        }
        .then_with(|| {
            let ports =
                |s: &EndpointSubset| s.ports.iter().flatten().map(port_key).collect::<Vec<_>>();
            ports(a).cmp(&ports(b))
        })
    });
    out
}
