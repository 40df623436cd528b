//! Pods and pod templates (`SetDefaults_Pod`, `SetDefaults_PodSpec`,
//! `SetDefaults_Container`, `SetDefaults_Probe`, the volume sources'), and
//! the tolerations the DefaultTolerationSeconds admission plugin gives
//! every pod (`plugin/pkg/admission/defaulttolerationseconds`).

use super::or_default_str;
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, HTTPGetAction, Lifecycle, Pod, PodSecurityContext,
    PodSpec, Probe, Toleration, Volume,
};

/// `/dev/termination-log`, Kubernetes' `TerminationMessagePathDefault`.
pub const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// Kubernetes' `DefaultTerminationGracePeriodSeconds`.
pub const TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// Kubernetes' `DefaultSchedulerName`.
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// How long a pod tolerates its node being not ready or unreachable
/// before the taint eviction controller deletes it
/// (`--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`, 300).
pub const NODE_PROBLEM_TOLERATION_SECONDS: i64 = 300;
/// 0644, the default mode of secret, config map, downward API and
/// projected volumes.
pub const VOLUME_DEFAULT_MODE: i32 = 0o644;

fn or_default_nonzero(field: &mut Option<i32>, value: i32) {
    if field.is_none_or(|v| v == 0) {
        *field = Some(value);
    }
}

/// A Pod: its spec's defaults and the Pod-only ones (a template gets only
/// [`spec`]).
pub fn pod(pod: &mut Pod) {
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    spec_of(spec);
    let host_network = spec.host_network == Some(true);
    let init = spec.init_containers.iter_mut().flatten();
    for container in spec.containers.iter_mut().chain(init) {
        // Requests default to the limits the container set.
        if let Some(resources) = container.resources.as_mut() {
            if let Some(limits) = &resources.limits {
                let requests = resources.requests.get_or_insert_with(Default::default);
                for (name, quantity) in limits {
                    requests
                        .entry(name.clone())
                        .or_insert_with(|| quantity.clone());
                }
            }
        }
        // On the host's network a container's port is the host's port.
        if host_network {
            for port in container.ports.iter_mut().flatten() {
                if port.host_port.is_none_or(|p| p == 0) {
                    port.host_port = Some(port.container_port);
                }
            }
        }
    }
    spec.enable_service_links.get_or_insert(true);
    default_toleration_seconds(spec);
}

/// The DefaultTolerationSeconds admission plugin: a pod that does not
/// tolerate the not-ready or the unreachable NoExecute taint (a
/// toleration of that key, or of every key, with effect NoExecute or any)
/// tolerates it for [`NODE_PROBLEM_TOLERATION_SECONDS`].
fn default_toleration_seconds(spec: &mut PodSpec) {
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
        let tolerated = tolerations.iter().any(|t| {
            let t_key = t.key.as_deref().unwrap_or("");
            let effect = t.effect.as_deref().unwrap_or("");
            (t_key == key || t_key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        });
        if !tolerated {
            tolerations.push(Toleration {
                key: Some(key.to_owned()),
                operator: Some("Exists".to_owned()),
                effect: Some("NoExecute".to_owned()),
                toleration_seconds: Some(NODE_PROBLEM_TOLERATION_SECONDS),
                value: None,
            });
        }
    }
}

/// A pod spec, of a Pod or of a template.
pub fn spec_of(spec: &mut PodSpec) {
    or_default_str(&mut spec.dns_policy, "ClusterFirst");
    or_default_str(&mut spec.restart_policy, "Always");
    spec.security_context
        .get_or_insert(PodSecurityContext::default());
    spec.termination_grace_period_seconds
        .get_or_insert(TERMINATION_GRACE_PERIOD_SECONDS);
    or_default_str(&mut spec.scheduler_name, SCHEDULER_NAME);
    let init = spec.init_containers.iter_mut().flatten();
    for container in spec.containers.iter_mut().chain(init) {
        container_of(container);
    }
    for volume in spec.volumes.iter_mut().flatten() {
        volume_of(volume);
    }
}

/// The pull policy Kubernetes gives an image without one: `Always` for
/// `:latest` or no tag at all (which means latest), else `IfNotPresent`
/// (a digest alone pins the image).
pub fn image_pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    // A tag follows the last ':' after the last '/' (a ':' before it is a
    // registry's port).
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.rsplit_once(':').map(|(_, tag)| tag);
    match (tag, digest) {
        (Some("latest"), _) | (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

fn container_of(container: &mut Container) {
    if container
        .image_pull_policy
        .as_deref()
        .is_none_or(str::is_empty)
    {
        let policy = image_pull_policy(container.image.as_deref().unwrap_or(""));
        container.image_pull_policy = Some(policy.to_owned());
    }
    or_default_str(
        &mut container.termination_message_path,
        TERMINATION_MESSAGE_PATH,
    );
    or_default_str(&mut container.termination_message_policy, "File");
    for port in container.ports.iter_mut().flatten() {
        or_default_str(&mut port.protocol, "TCP");
    }
    for env in container.env.iter_mut().flatten() {
        env_of(env);
    }
    for probe in [
        &mut container.liveness_probe,
        &mut container.readiness_probe,
        &mut container.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        probe_of(probe);
    }
    if let Some(lifecycle) = container.lifecycle.as_mut() {
        lifecycle_of(lifecycle);
    }
}

fn env_of(env: &mut EnvVar) {
    if let Some(field) = env
        .value_from
        .as_mut()
        .and_then(|from| from.field_ref.as_mut())
    {
        or_default_str(&mut field.api_version, "v1");
    }
}

fn probe_of(probe: &mut Probe) {
    or_default_nonzero(&mut probe.timeout_seconds, 1);
    or_default_nonzero(&mut probe.period_seconds, 10);
    or_default_nonzero(&mut probe.success_threshold, 1);
    or_default_nonzero(&mut probe.failure_threshold, 3);
    if let Some(http) = probe.http_get.as_mut() {
        http_get_of(http);
    }
    if let Some(grpc) = probe.grpc.as_mut() {
        grpc.service.get_or_insert(String::new());
    }
}

fn http_get_of(http: &mut HTTPGetAction) {
    or_default_str(&mut http.path, "/");
    or_default_str(&mut http.scheme, "HTTP");
}

fn lifecycle_of(lifecycle: &mut Lifecycle) {
    for handler in [&mut lifecycle.post_start, &mut lifecycle.pre_stop]
        .into_iter()
        .flatten()
    {
        if let Some(http) = handler.http_get.as_mut() {
            http_get_of(http);
        }
    }
}

fn volume_of(volume: &mut Volume) {
    if let Some(secret) = volume.secret.as_mut() {
        secret.default_mode.get_or_insert(VOLUME_DEFAULT_MODE);
    }
    if let Some(config_map) = volume.config_map.as_mut() {
        config_map.default_mode.get_or_insert(VOLUME_DEFAULT_MODE);
    }
    if let Some(downward) = volume.downward_api.as_mut() {
        downward.default_mode.get_or_insert(VOLUME_DEFAULT_MODE);
        for item in downward.items.iter_mut().flatten() {
            if let Some(field) = item.field_ref.as_mut() {
                or_default_str(&mut field.api_version, "v1");
            }
        }
    }
    if let Some(projected) = volume.projected.as_mut() {
        projected.default_mode.get_or_insert(VOLUME_DEFAULT_MODE);
        for source in projected.sources.iter_mut().flatten() {
            if let Some(token) = source.service_account_token.as_mut() {
                token.expiration_seconds.get_or_insert(3600);
            }
            for item in source
                .downward_api
                .iter_mut()
                .flat_map(|d| d.items.iter_mut().flatten())
            {
                if let Some(field) = item.field_ref.as_mut() {
                    or_default_str(&mut field.api_version, "v1");
                }
            }
        }
    }
    if let Some(host_path) = volume.host_path.as_mut() {
        host_path.type_.get_or_insert(String::new());
    }
    // A volume names its source by the one field it sets besides its name
    // (k8s-openapi leaves unset fields out of the JSON).
    let has_source = serde_json::to_value(&*volume)
        .ok()
        .and_then(|value| value.as_object().map(|fields| fields.len() > 1))
        .unwrap_or(true);
    if !has_source {
        volume.empty_dir = Some(EmptyDirVolumeSource::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::json;

    fn decode(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).expect("a pod")
    }

    #[test]
    fn a_bare_pod_gets_kubernetes_defaults() {
        // Expectations from pkg/apis/core/v1/defaults.go (Kubernetes 1.33).
        let mut p = decode(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web"},
            "spec": {"containers": [{
                "name": "web", "image": "nginx",
                "ports": [{"containerPort": 80}],
                "livenessProbe": {"httpGet": {"port": 80}}
            }]}
        }));
        pod(&mut p);
        let spec = p.spec.expect("spec");
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert_eq!(spec.security_context, Some(PodSecurityContext::default()));
        assert_eq!(spec.enable_service_links, Some(true));
        let c = &spec.containers[0];
        assert_eq!(
            c.image_pull_policy.as_deref(),
            Some("Always"),
            "no tag is latest"
        );
        assert_eq!(
            c.termination_message_path.as_deref(),
            Some("/dev/termination-log")
        );
        assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
        let port = &c.ports.as_ref().expect("ports")[0];
        assert_eq!(port.protocol.as_deref(), Some("TCP"));
        assert_eq!(port.host_port, None, "only on the host's network");
        let probe = c.liveness_probe.as_ref().expect("probe");
        assert_eq!(
            (
                probe.timeout_seconds,
                probe.period_seconds,
                probe.success_threshold,
                probe.failure_threshold
            ),
            (Some(1), Some(10), Some(1), Some(3))
        );
        assert_eq!(probe.initial_delay_seconds, None, "not defaulted");
        let http = probe.http_get.as_ref().expect("httpGet");
        assert_eq!(
            (http.path.as_deref(), http.scheme.as_deref()),
            (Some("/"), Some("HTTP"))
        );
    }

    #[test]
    fn pods_tolerate_node_problems_for_five_minutes_unless_they_say_otherwise() {
        // plugin/pkg/admission/defaulttolerationseconds (Kubernetes 1.33).
        let tolerations = |given: serde_json::Value| {
            let mut p = decode(json!({"metadata": {"name": "p"},
                                      "spec": {"containers": [], "tolerations": given}}));
            pod(&mut p);
            serde_json::to_value(p.spec.expect("spec").tolerations).expect("json")
        };
        let default = |key: &str| json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300});
        assert_eq!(
            tolerations(json!([])),
            json!([
                default("node.kubernetes.io/not-ready"),
                default("node.kubernetes.io/unreachable")
            ])
        );
        let own = json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                         "effect": "NoExecute", "tolerationSeconds": 6000});
        assert_eq!(
            tolerations(json!([own])),
            json!([own, default("node.kubernetes.io/not-ready")])
        );
        let everything = json!({"operator": "Exists"});
        assert_eq!(tolerations(json!([everything])), json!([everything]));
        let no_schedule = json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                 "effect": "NoSchedule"});
        assert_eq!(
            tolerations(json!([no_schedule])),
            json!([
                no_schedule,
                default("node.kubernetes.io/not-ready"),
                default("node.kubernetes.io/unreachable")
            ])
        );
    }

    #[test]
    fn set_fields_are_kept() {
        let mut p = decode(json!({
            "metadata": {"name": "job"},
            "spec": {
                "restartPolicy": "Never", "dnsPolicy": "Default",
                "terminationGracePeriodSeconds": 0, "enableServiceLinks": false,
                "containers": [{"name": "c", "image": "busybox:1.36",
                                "imagePullPolicy": "Never"}]
            }
        }));
        pod(&mut p);
        let spec = p.spec.expect("spec");
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.dns_policy.as_deref(), Some("Default"));
        assert_eq!(spec.termination_grace_period_seconds, Some(0));
        assert_eq!(spec.enable_service_links, Some(false));
        assert_eq!(
            spec.containers[0].image_pull_policy.as_deref(),
            Some("Never")
        );
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        for (image, policy) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("registry.local:5000/team/app", "Always"),
            ("registry.local:5000/team/app:v2", "IfNotPresent"),
            ("app@sha256:0123abcd", "IfNotPresent"),
            ("app:latest@sha256:0123abcd", "Always"),
            ("app:v1@sha256:0123abcd", "IfNotPresent"),
        ] {
            assert_eq!(image_pull_policy(image), policy, "{image}");
        }
    }

    #[test]
    fn requests_default_to_limits_and_host_network_ports_to_host_ports() {
        let mut p = Pod {
            spec: Some(PodSpec {
                host_network: Some(true),
                containers: vec![Container {
                    name: "c".into(),
                    image: Some("app:v1".into()),
                    ports: Some(vec![ContainerPort {
                        container_port: 8080,
                        ..Default::default()
                    }]),
                    resources: Some(ResourceRequirements {
                        limits: Some(
                            [
                                ("cpu".to_owned(), Quantity("500m".into())),
                                ("memory".to_owned(), Quantity("1Gi".into())),
                            ]
                            .into(),
                        ),
                        requests: Some([("cpu".to_owned(), Quantity("100m".into()))].into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        pod(&mut p);
        let container = &p.spec.as_ref().expect("spec").containers[0];
        let requests = container
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .expect("requests");
        assert_eq!(
            requests["cpu"],
            Quantity("100m".into()),
            "a set request stays"
        );
        assert_eq!(requests["memory"], Quantity("1Gi".into()), "from the limit");
        let port = &container.ports.as_ref().expect("ports")[0];
        assert_eq!(port.host_port, Some(8080));
    }

    #[test]
    fn volumes_get_modes_and_a_bare_volume_is_an_empty_dir() {
        let mut spec: PodSpec = serde_json::from_value(json!({
            "containers": [],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "app"}},
                {"name": "creds", "secret": {"secretName": "app"}},
                {"name": "scratch"},
                {"name": "host", "hostPath": {"path": "/var/log"}}
            ]
        }))
        .expect("a spec");
        spec_of(&mut spec);
        let volumes = serde_json::to_value(spec.volumes).expect("json");
        assert_eq!(volumes[0]["configMap"]["defaultMode"], 420);
        assert_eq!(volumes[1]["secret"]["defaultMode"], 420);
        assert_eq!(volumes[2]["emptyDir"], json!({}));
        assert_eq!(volumes[3]["hostPath"]["type"], "");
    }
}
