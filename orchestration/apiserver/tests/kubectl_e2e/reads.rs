//! What kubectl reads: discovery, apply's verdicts, tables, output
//! formats, watches and describe.

use keel_tests::Stream;
use serde_json::Value;

use super::{application, rows, squeezed, without_age, Session, WATCH_LINE_TIMEOUT};

/// The server's version, every kind under Kubernetes' names, and an
/// unknown path.
pub(crate) fn discovery(session: &Session) {
    let version: Value =
        serde_json::from_str(&session.kubectl.ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(version["serverVersion"]["major"], "1");
    assert_eq!(version["serverVersion"]["minor"], "33");

    // `-o name` prints each kind as <plural>[.<group>].
    let names = session.kubectl.ok(&["api-resources", "-o", "name"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "configmaps",
            "controllerrevisions.apps",
            "daemonsets.apps",
            "deployments.apps",
            "endpoints",
            "events",
            "jobs.batch",
            "leases.coordination.k8s.io",
            "namespaces",
            "nodes",
            "pods",
            "replicasets.apps",
            "secrets",
            "services",
        ]
    );
    // kubectl's words for a 404 without a Status body
    // (apimachinery's NewGenericServerResponse).
    assert_eq!(
        session
            .kubectl
            .fails(&["get", "--raw", "/apis/example.com/v1"]),
        "Error from server (NotFound): the server could not find the requested resource\n"
    );
}

/// apply: created, then unchanged, then configured for the changed
/// object only (kubectl's apply prints `<kind>[.<group>]/<name> <verb>`).
pub(crate) fn apply(session: &Session) {
    let ns = &session.namespace;
    let first = session.manifest("app.yaml", &application(ns, "blue"));
    assert_eq!(
        session.kubectl.ok(&["apply", "-f", &first]),
        format!(
            "namespace/{ns} created\nconfigmap/settings created\ndeployment.apps/web created\nservice/web created\n"
        )
    );
    assert_eq!(
        session.kubectl.ok(&["apply", "-f", &first]),
        format!(
            "namespace/{ns} unchanged\nconfigmap/settings unchanged\ndeployment.apps/web unchanged\nservice/web unchanged\n"
        )
    );
    let changed = session.manifest("app-green.yaml", &application(ns, "green"));
    assert_eq!(
        session.kubectl.ok(&["apply", "-f", &changed]),
        format!(
            "namespace/{ns} unchanged\nconfigmap/settings configured\ndeployment.apps/web unchanged\nservice/web unchanged\n"
        )
    );
    let settings = session.json("configmap", "settings");
    assert_eq!(settings["data"]["mode"], "green");
    assert!(settings["metadata"]["annotations"]
        ["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap()
        .contains("green"));
}

/// Tables with kube-apiserver's columns (pkg/printers/internalversion/
/// printers.go): no controller runs, so the Deployment's status counts
/// are all 0.
pub(crate) fn tables(session: &Session) {
    let ns = session.namespace.as_str();
    let deployments = session.ok(&["get", "deployments"]);
    let table = rows(&deployments);
    assert_eq!(
        table[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{deployments}"
    );
    assert_eq!(table.len(), 2, "{deployments}");
    assert_eq!(without_age(&table[1], 4), ["web", "0/2", "0", "0", "<age>"]);

    let wide = session.ok(&["get", "deployment", "web", "-o", "wide"]);
    let table = rows(&wide);
    assert_eq!(
        table[0],
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{wide}"
    );
    assert_eq!(
        without_age(&table[1], 4),
        [
            "web",
            "0/2",
            "0",
            "0",
            "<age>",
            "web",
            "nginx:1.27",
            "app=web"
        ]
    );

    let services = session.ok(&["get", "services", "-o", "wide"]);
    let table = rows(&services);
    assert_eq!(
        table[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ],
        "{services}"
    );
    // CLUSTER-IP (column 2) is left out: kube-apiserver allocates one on
    // create, keel has no allocator yet.
    let service = without_age(&table[1], 5);
    assert_eq!(
        [&service[..2], &service[3..]].concat(),
        ["web", "ClusterIP", "<none>", "80/TCP", "<age>", "app=web"],
        "{services}"
    );

    let labelled = session.ok(&["get", "configmaps", "-l", "tier=config"]);
    let table = rows(&labelled);
    assert_eq!(table[0], ["NAME", "DATA", "AGE"], "{labelled}");
    assert_eq!(table.len(), 2, "{labelled}");
    assert_eq!(without_age(&table[1], 2), ["settings", "1", "<age>"]);
    // A selector nothing matches: kubectl's own words, on stderr.
    let output = session
        .kubectl
        .run(&["get", "configmaps", "-l", "tier=none", "-n", ns]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        format!("No resources found in {ns} namespace.\n")
    );

    // -A: a NAMESPACE column first; the other versions' namespaces may
    // show up too.
    let everywhere = session.kubectl.ok(&[
        "get",
        "configmaps",
        "-A",
        "--field-selector",
        "metadata.name=settings",
    ]);
    let table = rows(&everywhere);
    assert_eq!(
        table[0],
        ["NAMESPACE", "NAME", "DATA", "AGE"],
        "{everywhere}"
    );
    assert!(
        table[1..].iter().all(|row| row[1] == "settings"),
        "{everywhere}"
    );
    assert!(
        table[1..]
            .iter()
            .any(|row| without_age(row, 3) == [ns, "settings", "1", "<age>"]),
        "{everywhere}"
    );
}

/// -o yaml, json, jsonpath and name.
pub(crate) fn formats(session: &Session) {
    let yaml: Value =
        serde_saphyr::from_str(&session.ok(&["get", "configmap", "settings", "-o", "yaml"]))
            .unwrap();
    assert_eq!(yaml["apiVersion"], "v1");
    assert_eq!(yaml["kind"], "ConfigMap");
    assert_eq!(yaml["metadata"]["namespace"], session.namespace.as_str());
    assert_eq!(yaml["metadata"]["labels"]["tier"], "config");
    assert_eq!(yaml["data"]["mode"], "green");
    assert!(yaml["metadata"]["uid"].is_string());
    assert!(yaml["metadata"]["creationTimestamp"].is_string());

    // The Deployment as read back: Kubernetes' defaults filled in
    // (pkg/apis/apps/v1/defaults.go, pkg/apis/core/v1/defaults.go).
    let web = session.json("deployment", "web");
    assert_eq!(web["kind"], "Deployment");
    assert_eq!(web["metadata"]["generation"], 1);
    let spec = &web["spec"];
    assert_eq!(spec["strategy"]["type"], "RollingUpdate");
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], "25%");
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["schedulerName"], "default-scheduler");
    let container = &pod["containers"][0];
    // A tagged image other than :latest is pulled IfNotPresent.
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(container["ports"][0]["protocol"], "TCP");

    assert_eq!(
        session.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}",
        ]),
        "2 nginx:1.27"
    );
    assert_eq!(
        session.ok(&["get", "deployments,services", "-o", "name"]),
        "deployment.apps/web\nservice/web\n"
    );
}

/// `get -w` prints the object, then its change.
pub(crate) fn watch(session: &Session) {
    let ns = session.namespace.as_str();
    let mut watch = session.kubectl.spawn(&[
        "get",
        "configmap",
        "settings",
        "-n",
        ns,
        "-w",
        "-o",
        "custom-columns=NAME:.metadata.name,SEEN:.metadata.labels.seen",
    ]);
    let mut line = || {
        watch
            .next_line(Stream::Stdout, WATCH_LINE_TIMEOUT)
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    assert_eq!(line().as_deref(), Some("NAME SEEN"));
    // custom-columns prints a missing field as <none>.
    assert_eq!(line().as_deref(), Some("settings <none>"));
    assert_eq!(
        session.ok(&["label", "configmap", "settings", "seen=yes"]),
        "configmap/settings labeled\n"
    );
    assert_eq!(line().as_deref(), Some("settings yes"));
    let output = watch.kill();
    assert!(
        !output.stderr.contains("rror"),
        "kubectl 1.{}: {output}",
        session.minor
    );
}

/// describe's Deployment lines (kubectl's describe.go,
/// `describeDeployment`), after the scale and the image patch.
pub(crate) fn describe(session: &Session) {
    let ns = session.namespace.as_str();
    let text = session.ok(&["describe", "deployment", "web"]);
    let lines = squeezed(&text);
    // These lines, in this order (kubectl pads with tabs).
    let expected = [
        "Name: web".to_owned(),
        format!("Namespace: {ns}"),
        "Labels: app=web".to_owned(),
        "Selector: app=web".to_owned(),
        "Replicas: 3 desired | 0 updated | 0 total | 0 available | 0 unavailable".to_owned(),
        "StrategyType: RollingUpdate".to_owned(),
        "MinReadySeconds: 0".to_owned(),
        "RollingUpdateStrategy: 25% max unavailable, 25% max surge".to_owned(),
        "Pod Template:".to_owned(),
        "Labels: app=web".to_owned(),
        "Containers:".to_owned(),
        "web:".to_owned(),
        "Image: nginx:1.28".to_owned(),
        "Port: 80/TCP".to_owned(),
    ];
    let mut at = 0;
    for line in &expected {
        match lines[at..].iter().position(|candidate| candidate == line) {
            Some(found) => at += found + 1,
            None => panic!(
                "kubectl 1.{}: no {line:?} after line {at} of\n{text}",
                session.minor
            ),
        }
    }
    // The last-applied annotation is never shown (describe.go's
    // skipAnnotations).
    assert!(!text.contains("last-applied-configuration"), "{text}");
}
