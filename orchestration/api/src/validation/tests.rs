//! Table tests of the rules, each case with the field path and message
//! Kubernetes 1.33 gives, and a comment naming where the rule lives.

#![allow(
    clippy::needless_pass_by_value,
    reason = "the json! builders read better taking their parts by value"
)]

use serde_json::{json, Value};

use super::*;
use crate::object::apply_defaults;
use crate::resources::{by_plural, RESOURCES};

fn resource(group: &str, plural: &str) -> &'static ResourceInfo {
    by_plural(group, plural).expect("served")
}

/// `object` defaulted as the front defaults it before validating.
fn defaulted(resource: &ResourceInfo, mut object: Value) -> Value {
    apply_defaults(resource, &mut object).expect("decodes");
    object
}

/// The causes of creating `object`, as "field: message" lines.
fn create_errors(group: &str, plural: &str, object: Value) -> Vec<String> {
    let resource = resource(group, plural);
    validate_create(resource, &defaulted(resource, object))
        .iter()
        .map(Cause::error_text)
        .collect()
}

fn update_errors(group: &str, plural: &str, old: Value, new: Value) -> Vec<String> {
    let resource = resource(group, plural);
    let old = defaulted(resource, old);
    let new = defaulted(resource, new);
    validate_update(resource, &old, &new)
        .iter()
        .map(Cause::error_text)
        .collect()
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
}

fn web() -> Value {
    json!({"name": "web", "image": "nginx:1.27"})
}

fn deployment(spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

fn template(labels: Value) -> Value {
    json!({"metadata": {"labels": labels}, "spec": {"containers": [web()]}})
}

const LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

#[test]
fn valid_objects_of_every_kind_pass() {
    let cases = [
        ("", "pods", pod(json!({"containers": [web()]}))),
        (
            "apps",
            "deployments",
            deployment(json!({"selector": {"matchLabels": {"app": "web"}},
                               "template": template(json!({"app": "web"}))})),
        ),
        (
            "batch",
            "jobs",
            json!({"metadata": {"name": "pi", "namespace": "default"},
                   "spec": {"template": {"spec": {"containers": [web()], "restartPolicy": "Never"}}}}),
        ),
        (
            "",
            "services",
            json!({"metadata": {"name": "web", "namespace": "default"},
                   "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        ),
        (
            "",
            "configmaps",
            json!({"metadata": {"name": "cfg", "namespace": "default"}, "data": {"a.conf": "x"}}),
        ),
        ("", "namespaces", json!({"metadata": {"name": "team-a"}})),
        (
            "coordination.k8s.io",
            "leases",
            json!({"metadata": {"name": "n1", "namespace": "kube-node-lease"},
                   "spec": {"leaseDurationSeconds": 40}}),
        ),
    ];
    for (group, plural, object) in cases {
        assert_eq!(
            create_errors(group, plural, object),
            Vec::<String>::new(),
            "{plural}"
        );
    }
}

#[test]
fn metadata_rules() {
    // apimachinery/pkg/api/validation/objectmeta.go ValidateObjectMetaAccessor.
    let cases: Vec<(&str, &str, Value, Vec<String>)> = vec![
        (
            "",
            "configmaps",
            json!({"metadata": {"namespace": "default"}}),
            vec!["metadata.name: Required value: name or generateName is required".into()],
        ),
        (
            "",
            "configmaps",
            json!({"metadata": {"name": "My_Config", "namespace": "default"}}),
            vec![format!("metadata.name: Invalid value: \"My_Config\": {SUBDOMAIN_MESSAGE}")],
        ),
        (
            // core/validation: ValidateNamespaceName = NameIsDNSLabel.
            "",
            "namespaces",
            json!({"metadata": {"name": "team.a"}}),
            vec!["metadata.name: Invalid value: \"team.a\": must not contain dots".into()],
        ),
        (
            // ValidateServiceName = NameIsDNS1035Label.
            "",
            "services",
            json!({"metadata": {"name": "1web", "namespace": "default"},
                   "spec": {"ports": [{"port": 80}]}}),
            vec!["metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into()],
        ),
        (
            "",
            "configmaps",
            json!({"metadata": {"name": "cfg", "namespace": "Default"}}),
            vec![format!("metadata.namespace: Invalid value: \"Default\": {LABEL_MESSAGE}")],
        ),
        (
            // meta/v1/validation ValidateLabels: errors on the map's path.
            "",
            "configmaps",
            json!({"metadata": {"name": "cfg", "namespace": "default",
                                "labels": {"app/": "x", "tier": "-front"}}}),
            vec![
                "metadata.labels: Invalid value: \"app/\": name part must be non-empty".into(),
                "metadata.labels: Invalid value: \"app/\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".into(),
                "metadata.labels: Invalid value: \"-front\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into(),
            ],
        ),
        (
            // ValidateAnnotations: keys checked lower-cased, 256 KiB in all.
            "",
            "configmaps",
            json!({"metadata": {"name": "cfg", "namespace": "default",
                                "annotations": {"Example.com/Key": "x", "big": "a".repeat(262_142)}}}),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes".into()],
        ),
        (
            "",
            "namespaces",
            json!({"metadata": {"name": "a", "namespace": "b"}}),
            vec!["metadata.namespace: Forbidden: not allowed on this type".into()],
        ),
    ];
    for (group, plural, object, expected) in cases {
        assert_eq!(create_errors(group, plural, object), expected);
    }
}

#[test]
fn metadata_is_immutable_on_update() {
    // ValidateObjectMetaAccessorUpdate: ValidateImmutableField.
    let old = json!({"metadata": {"name": "cfg", "namespace": "default", "uid": "u-1"}});
    let mut new = old.clone();
    new["metadata"]["uid"] = json!("u-2");
    assert_eq!(
        update_errors("", "configmaps", old, new),
        vec!["metadata.uid: Invalid value: \"u-2\": field is immutable"]
    );
}

#[test]
fn pod_rules() {
    // core/validation/validation.go: validateContainers, validateContainerCommon,
    // validateContainerPorts, ValidateEnv, validateResourceRequirements, ValidatePodSpec.
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"containers": []}), vec!["spec.containers: Required value"]),
        (
            json!({"containers": [{"name": "Web", "image": "x"}]}),
            vec!["spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"],
        ),
        (
            json!({"containers": [{"name": "web"}]}),
            vec!["spec.containers[0].image: Required value"],
        ),
        (
            json!({"containers": [web(), web()]}),
            vec!["spec.containers[1].name: Duplicate value: \"web\""],
        ),
        (
            json!({"containers": [web()], "initContainers": [web()]}),
            vec!["spec.initContainers[0].name: Duplicate value: \"web\""],
        ),
        (
            json!({"containers": [{"name": "web", "image": "x",
                                   "ports": [{"containerPort": 70000, "protocol": "HTTP"}]}]}),
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            ],
        ),
        (
            json!({"containers": [{"name": "web", "image": "x", "ports": [{"containerPort": 0}]}]}),
            vec!["spec.containers[0].ports[0].containerPort: Required value"],
        ),
        (
            json!({"containers": [{"name": "web", "image": "x", "env": [{"name": "A=B"}, {"name": ""}]}]}),
            vec![
                "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[1].name: Required value",
            ],
        ),
        (
            json!({"containers": [{"name": "web", "image": "x",
                                   "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}}]}),
            vec!["spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1500m"],
        ),
        (
            json!({"containers": [{"name": "web", "image": "x", "resources": {"limits": {"cpus": "1"}}}]}),
            // SetDefaults_Pod copies limits into requests, so both are reported.
            vec![
                "spec.containers[0].resources.limits[cpus]: Invalid value: \"cpus\": must be a standard resource type or fully qualified",
                "spec.containers[0].resources.limits[cpus]: Invalid value: \"cpus\": must be a standard resource for containers",
                "spec.containers[0].resources.requests[cpus]: Invalid value: \"cpus\": must be a standard resource type or fully qualified",
                "spec.containers[0].resources.requests[cpus]: Invalid value: \"cpus\": must be a standard resource for containers",
            ],
        ),
        (
            json!({"containers": [web()], "restartPolicy": "Sometimes", "dnsPolicy": "Google"}),
            vec![
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            ],
        ),
        (
            json!({"containers": [{"name": "web", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}),
            vec!["spec.containers[0].volumeMounts[0].name: Not found: \"data\""],
        ),
        (
            // (A volume of no type is defaulted to an emptyDir, as SetDefaults_Volume does.)
            json!({"containers": [web()],
                   "volumes": [{"name": "data", "emptyDir": {}, "hostPath": {"path": "/x"}}]}),
            vec!["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"],
        ),
        (
            json!({"containers": [web()], "activeDeadlineSeconds": 0}),
            vec!["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"],
        ),
        (
            json!({"containers": [web()], "tolerations": [{"operator": "Equal", "value": "x"}]}),
            vec!["spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""],
        ),
        (
            json!({"containers": [{"name": "web", "image": " nginx"}]}),
            vec!["spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace"],
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(
            create_errors("", "pods", pod(spec.clone())),
            expected,
            "{spec}"
        );
    }
}

#[test]
fn pod_updates_change_only_what_kubernetes_allows() {
    // ValidatePodUpdate: images and the deadline may change; anything else is
    // Forbidden with updatablePodSpecFields (and a diff Kubernetes renders
    // with cmp.Diff, which keel words its own way).
    let old = pod(json!({"containers": [web()], "activeDeadlineSeconds": 100}));
    let mut new_image = old.clone();
    new_image["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    new_image["spec"]["activeDeadlineSeconds"] = json!(50);
    assert_eq!(
        update_errors("", "pods", old.clone(), new_image),
        Vec::<String>::new()
    );

    let mut longer = old.clone();
    longer["spec"]["activeDeadlineSeconds"] = json!(200);
    assert_eq!(
        update_errors("", "pods", old.clone(), longer),
        vec!["spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"]
    );

    let mut moved = old.clone();
    moved["spec"]["nodeName"] = json!("node-1");
    let errors = update_errors("", "pods", old.clone(), moved);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"),
        "{}",
        errors[0]
    );

    let mut more = old.clone();
    more["spec"]["containers"] = json!([web(), {"name": "side", "image": "x"}]);
    assert_eq!(
        update_errors("", "pods", old, more),
        vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]
    );
}

#[test]
fn workload_rules() {
    // apps/validation/validation.go ValidateDeploymentSpec and
    // ValidatePodTemplateSpecForReplicaSet.
    let selector = json!({"matchLabels": {"app": "web"}});
    let cases: Vec<(&str, &str, Value, Vec<&str>)> = vec![
        (
            // The message kubectl users know: no selector matches nothing.
            "apps",
            "deployments",
            deployment(json!({"template": template(json!({"app": "web"}))})),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ],
        ),
        (
            "apps",
            "deployments",
            deployment(json!({"selector": {"matchLabels": {"app": "api"}}, "template": template(json!({"app": "web"}))})),
            vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"],
        ),
        (
            "apps",
            "deployments",
            deployment(json!({"selector": {"matchLabels": {}}, "template": template(json!({"app": "web"}))})),
            vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"],
        ),
        (
            "apps",
            "deployments",
            deployment(json!({"replicas": -1, "revisionHistoryLimit": -2, "selector": selector,
                              "template": {"metadata": {"labels": {"app": "web"}},
                                           "spec": {"containers": [web()], "restartPolicy": "Never"}}})),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
            ],
        ),
        (
            "apps",
            "deployments",
            deployment(json!({"selector": selector, "template": template(json!({"app": "web"})),
                              "strategy": {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "120%"}}})),
            vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"120%\"}: must not be greater than 100%"],
        ),
        (
            "apps",
            "deployments",
            deployment(json!({"selector": selector, "template": template(json!({"app": "web"})),
                              "strategy": {"type": "Blue"}})),
            vec!["spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:\"Blue\", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: \"Recreate\", \"RollingUpdate\""],
        ),
        (
            // A DaemonSet without a selector matches no template.
            "apps",
            "daemonsets",
            json!({"metadata": {"name": "agent", "namespace": "default"},
                   "spec": {"template": template(json!({"app": "agent"}))}}),
            vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"agent\"}: `selector` does not match template `labels`"],
        ),
        (
            // batch/validation: a Job's template restarts OnFailure or Never.
            "batch",
            "jobs",
            json!({"metadata": {"name": "pi", "namespace": "default"},
                   "spec": {"backoffLimit": -1, "template": {"spec": {"containers": [web()]}}}}),
            vec![
                "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
            ],
        ),
        (
            "apps",
            "controllerrevisions",
            json!({"metadata": {"name": "web-1", "namespace": "default"}, "revision": -1}),
            vec![
                "data: Required value: data is mandatory",
                "revision: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
    ];
    for (group, plural, object, expected) in cases {
        assert_eq!(
            create_errors(group, plural, object.clone()),
            expected,
            "{object}"
        );
    }
}

#[test]
fn workload_updates_keep_selectors_and_job_templates() {
    // registry/apps/deployment/strategy.go ValidateUpdate (apps/v1).
    let old = deployment(json!({"selector": {"matchLabels": {"app": "web"}},
                                "template": template(json!({"app": "web", "v": "1"}))}));
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "1"}});
    assert_eq!(
        update_errors("apps", "deployments", old, new),
        vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"v\":\"1\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]
    );
    // batch/validation ValidateJobSpecUpdate: the template is immutable.
    let job = json!({"metadata": {"name": "pi", "namespace": "default"},
                     "spec": {"template": {"spec": {"containers": [web()], "restartPolicy": "Never"}}}});
    let mut changed = job.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    let errors = update_errors("batch", "jobs", job, changed);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("spec.template: Invalid value: "),
        "{}",
        errors[0]
    );
    assert!(errors[0].ends_with(": field is immutable"), "{}", errors[0]);
}

#[test]
fn core_rules() {
    let svc =
        |spec: Value| json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec});
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        // ValidateService.
        ("services", svc(json!({})), vec!["spec.ports: Required value"]),
        ("services", svc(json!({"clusterIP": "None"})), vec![]),
        ("services", svc(json!({"type": "ExternalName", "externalName": "db.example.com."})), vec![]),
        (
            "services",
            svc(json!({"ports": [{"port": 80}, {"name": "b", "port": 80}]})),
            vec![
                "spec.ports[0].name: Required value",
                "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}",
            ],
        ),
        (
            "services",
            svc(json!({"ports": [{"port": 0, "protocol": "ICMP"}], "type": "Internal"})),
            vec![
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            ],
        ),
        (
            "services",
            svc(json!({"ports": [{"port": 80, "nodePort": 30080}]})),
            vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
        ),
        // ValidateConfigMap.
        (
            "configmaps",
            json!({"metadata": {"name": "c", "namespace": "default"},
                   "data": {"a b": "1", "k": "2"}, "binaryData": {"k": "AA=="}}),
            vec![
                "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "data[k]: Invalid value: \"k\": duplicate of key present in binaryData",
            ],
        ),
        (
            "configmaps",
            json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"big": "a".repeat(1_048_577)}}),
            vec![": Too long: may not be more than 1048576 bytes"],
        ),
        // ValidateSecret.
        (
            "secrets",
            json!({"metadata": {"name": "tls", "namespace": "default"}, "type": "kubernetes.io/tls",
                   "data": {"tls.crt": "AA=="}}),
            vec!["data[tls.key]: Required value"],
        ),
        // coordination/validation ValidateLeaseSpec.
        (
            "leases",
            json!({"metadata": {"name": "n1", "namespace": "default"}, "spec": {"leaseDurationSeconds": 0}}),
            vec!["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"],
        ),
        // ValidateEndpoints.
        (
            "endpoints",
            json!({"metadata": {"name": "web", "namespace": "default"},
                   "subsets": [{"ports": [{"port": 80}]}]}),
            vec!["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"],
        ),
        // legacyValidateEvent.
        (
            "events",
            json!({"metadata": {"name": "e", "namespace": "default"},
                   "involvedObject": {"kind": "Pod", "name": "p", "namespace": "other"}}),
            vec!["involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"],
        ),
    ];
    for (plural, object, expected) in cases {
        let group = if plural == "leases" {
            "coordination.k8s.io"
        } else {
            ""
        };
        assert_eq!(
            create_errors(group, plural, object.clone()),
            expected,
            "{object}"
        );
    }
}

#[test]
fn core_updates() {
    // ValidateSecretUpdate and ValidateConfigMapUpdate.
    let secret = json!({"metadata": {"name": "s", "namespace": "default"}, "type": "Opaque",
                        "immutable": true, "data": {"a": "AA=="}});
    let mut retyped = secret.clone();
    retyped["type"] = json!("kubernetes.io/basic-auth");
    retyped["data"] = json!({"username": "AA=="});
    assert_eq!(
        update_errors("", "secrets", secret, retyped),
        vec![
            "type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable",
            "data: Forbidden: field is immutable when `immutable` is set",
        ]
    );
    // validateUpgradeDowngradeClusterIPs.
    let old = json!({"metadata": {"name": "web", "namespace": "default"},
                     "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]}});
    let mut new = old.clone();
    new["spec"]["clusterIP"] = json!("10.96.0.11");
    new["spec"]["clusterIPs"] = json!(["10.96.0.11"]);
    assert_eq!(
        update_errors("", "services", old, new),
        vec![
            "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set"
        ]
    );
}

#[test]
fn the_status_message_and_details_are_kube_apiservers() {
    // apimachinery/pkg/api/errors NewInvalid and util/errors aggregate.Error.
    let deployments = resource("apps", "deployments");
    let one = vec![field::required(
        &field::Path::root("spec").child("selector"),
        "",
    )];
    assert_eq!(
        invalid_message(deployments, "web", &one),
        "Deployment.apps \"web\" is invalid: spec.selector: Required value"
    );
    let two = vec![
        one[0].clone(),
        one[0].clone(),
        field::forbidden(&field::Path::root("spec"), "no"),
    ];
    assert_eq!(
        invalid_message(deployments, "web", &two),
        "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec: Forbidden: no]"
    );
    assert_eq!(
        invalid_message(resource("", "pods"), "p", &[]),
        "Pod \"p\" is invalid"
    );
    assert_eq!(
        invalid_details(deployments, "web", &one),
        json!({"name": "web", "group": "apps", "kind": "Deployment",
               "causes": [{"reason": "FieldValueRequired", "message": "Required value",
                           "field": "spec.selector"}]})
    );
    let whole = vec![field::too_long(&field::Path::root(""), 10)];
    assert_eq!(
        invalid_details(resource("", "configmaps"), "c", &whole)["causes"][0],
        json!({"reason": "FieldValueTooLong", "message": "Too long: may not be more than 10 bytes"})
    );
}

#[test]
fn unknown_fields_are_named_by_their_path() {
    // Strict decoding (sigs.k8s.io/json): `unknown field "spec.replica"`.
    let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"any": "key"}, "nodeName": null},
        "spec": {"replica": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "x", "imagePullPolicyy": "Always"}]}}}});
    assert_eq!(
        unknown_fields(resource("apps", "deployments"), &object),
        vec![
            "spec.replica",
            "spec.template.spec.containers[0].imagePullPolicyy"
        ]
    );
    for resource in RESOURCES {
        let minimal = json!({"metadata": {"name": "x"}});
        assert_eq!(
            unknown_fields(resource, &minimal),
            Vec::<String>::new(),
            "{}",
            resource.kind
        );
    }
    let configmap = json!({"metadata": {"name": "c"}, "data": {"k": "v"}, "date": {}});
    assert_eq!(
        unknown_fields(resource("", "configmaps"), &configmap),
        vec!["date"]
    );
}
