//! What kubectl changes: scale, label, annotate, the three patch types,
//! typed creates, deletes and a namespace's deletion.

use super::{rows, squeezed, without_age, Session};

/// scale, label and annotate, with kubectl's refusals without
/// --overwrite.
pub(crate) fn edits(session: &Session) {
    assert_eq!(
        session.ok(&["scale", "deployment", "web", "--replicas=3"]),
        "deployment.apps/web scaled\n"
    );
    assert_eq!(
        session.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );

    assert_eq!(
        session.ok(&["label", "configmap", "settings", "color=red"]),
        "configmap/settings labeled\n"
    );
    assert_eq!(
        session.fails(&["label", "configmap", "settings", "color=blue"]),
        "error: 'color' already has a value (red), and --overwrite is false\n"
    );
    assert_eq!(
        session.ok(&[
            "label",
            "configmap",
            "settings",
            "color=blue",
            "--overwrite"
        ]),
        "configmap/settings labeled\n"
    );
    assert_eq!(
        session.ok(&["annotate", "configmap", "settings", "note=first"]),
        "configmap/settings annotated\n"
    );
    assert_eq!(
        session.fails(&["annotate", "configmap", "settings", "note=second"]),
        "error: --overwrite is false but found the following declared annotation(s): 'note' already has a value (first)\n"
    );
    assert_eq!(
        session.ok(&[
            "annotate",
            "configmap",
            "settings",
            "note=second",
            "--overwrite"
        ]),
        "configmap/settings annotated\n"
    );
    assert_eq!(
        session.ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.metadata.labels.color} {.metadata.annotations.note}",
        ]),
        "blue second"
    );
}

/// The three patch types, each with what sets it apart.
pub(crate) fn patches(session: &Session) {
    // Strategic merge merges containers by name: the port stays.
    let image =
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}"#;
    assert_eq!(
        session.ok(&[
            "patch",
            "deployment",
            "web",
            "--type=strategic",
            "-p",
            image
        ]),
        "deployment.apps/web patched\n"
    );
    assert_eq!(
        session.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.metadata.generation}",
        ]),
        "nginx:1.28 80 3"
    );
    // The same patch again changes nothing (kubectl compares the object
    // before and after).
    assert_eq!(
        session.ok(&["patch", "deployment", "web", "-p", image]),
        "deployment.apps/web patched (no change)\n"
    );

    // A merge patch's null removes a key.
    assert_eq!(
        session.ok(&[
            "patch",
            "configmap",
            "settings",
            "--type=merge",
            "-p",
            r#"{"data":{"extra":"1","mode":null}}"#,
        ]),
        "configmap/settings patched\n"
    );
    // A JSON patch's operations apply in order, a `test` included.
    assert_eq!(
        session.ok(&[
            "patch",
            "configmap",
            "settings",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/data/added","value":"2"},{"op":"test","path":"/data/extra","value":"1"}]"#,
        ]),
        "configmap/settings patched\n"
    );
    let data = &session.json("configmap", "settings")["data"];
    assert_eq!(*data, serde_json::json!({"extra": "1", "added": "2"}));

    // A failing `test`: kube-apiserver answers 422 Invalid with
    // NewGenericServerResponse's words and empty details (handlers/
    // patch.go). kubectl 1.32 and 1.33 add the Status message when the
    // details name no object (kubectl's cmd/util/helpers.go, checkErr);
    // 1.20's checkErr prints "The request is invalid" alone.
    let stderr = session.fails(&[
        "patch",
        "configmap",
        "settings",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/data/extra","value":"2"}]"#,
    ]);
    if session.minor == 20 {
        assert_eq!(stderr, "The request is invalid\n");
    } else {
        assert_eq!(
            stderr,
            "The request is invalid: the server rejected our request due to an error in our request\n"
        );
    }
}

/// kubectl's typed commands (1.32 and 1.33 send them as protobuf, 1.20
/// as JSON).
pub(crate) fn typed_creates(session: &Session) {
    // -v=8 logs the request's headers.
    let (stdout, log) = session.kubectl.ok_with_stderr(&[
        "create",
        "configmap",
        "literal",
        "--from-literal=a=1",
        "--from-literal=b=2",
        "-n",
        &session.namespace,
        "-v=8",
    ]);
    assert_eq!(stdout, "configmap/literal created\n");
    let protobuf = "Content-Type: application/vnd.kubernetes.protobuf";
    assert_eq!(
        log.lines().any(|line| line.trim_end().ends_with(protobuf)),
        session.minor != 20,
        "kubectl 1.{}: {log}",
        session.minor
    );
    assert_eq!(
        session.json("configmap", "literal")["data"],
        serde_json::json!({"a": "1", "b": "2"})
    );
    // kubectl 1.32 and 1.33 wrap the create's error in create
    // configmap's own words; 1.20 prints the Status as it came.
    let stderr = session.fails(&["create", "configmap", "literal", "--from-literal=a=1"]);
    let expected = if session.minor == 20 {
        "Error from server (AlreadyExists): configmaps \"literal\" already exists\n"
    } else {
        "error: failed to create configmap: configmaps \"literal\" already exists\n"
    };
    assert_eq!(stderr, expected);

    assert_eq!(
        session.ok(&[
            "create",
            "deployment",
            "made",
            "--image=nginx:1.27",
            "--replicas=2"
        ]),
        "deployment.apps/made created\n"
    );
    // create deployment labels it app=<name> and names the container
    // after the image.
    assert_eq!(
        session.ok(&[
            "get",
            "deployment",
            "made",
            "-o",
            "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].name}",
        ]),
        "2 made nginx"
    );

    assert_eq!(
        session.ok(&["run", "solo", "--image=busybox:1.36", "--labels=run=solo"]),
        "pod/solo created\n"
    );
    // A new Pod is Pending (the pod strategy's PrepareForCreate); READY
    // counts its containers.
    let pods = session.ok(&["get", "pods", "-o", "wide"]);
    let lines = squeezed(&pods);
    assert_eq!(
        lines[0],
        "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
    );
    let row = rows(&pods)[1].clone();
    assert_eq!(
        without_age(&row, 4),
        ["solo", "0/1", "Pending", "0", "<age>", "<none>", "<none>", "<none>", "<none>"]
    );

    binding(session);

    assert_eq!(
        session.ok(&["delete", "configmap", "literal"]),
        "configmap \"literal\" deleted\n"
    );
    // A Pod on no node is deleted at once, without a grace period
    // (pkg/registry/core/pod/strategy.go, CheckGracefulDelete): kubectl
    // does not wait.
    assert_eq!(
        session.ok(&["delete", "pod", "solo"]),
        "pod \"solo\" deleted\n"
    );
    assert_eq!(
        session.fails(&["get", "pod", "solo"]),
        "Error from server (NotFound): pods \"solo\" not found\n"
    );
}

/// A pod bound to a node through `pods/binding` (kubectl's --raw, as a
/// scheduler would post it): once; a second binding is a Conflict in
/// kube-apiserver's words (pkg/registry/core/pod/storage `assignPod`).
fn binding(session: &Session) {
    assert_eq!(
        session.ok(&["run", "placed", "--image=busybox:1.36"]),
        "pod/placed created\n"
    );
    let path = format!(
        "/api/v1/namespaces/{}/pods/placed/binding",
        session.namespace
    );
    let binding = |node: &str| {
        session.manifest(
            &format!("binding-{node}.json"),
            &serde_json::json!({"apiVersion": "v1", "kind": "Binding",
                                "metadata": {"name": "placed"},
                                "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
            .to_string(),
        )
    };
    let answer = session
        .kubectl
        .ok(&["create", "--raw", &path, "-f", &binding("node-a")]);
    let status: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(status["status"], "Success", "{answer}");
    let placed = session.json("pod", "placed");
    assert_eq!(placed["spec"]["nodeName"], "node-a");
    let scheduled = placed["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .cloned()
        .unwrap();
    assert_eq!(scheduled["status"], "True");
    assert_eq!(
        session
            .kubectl
            .fails(&["create", "--raw", &path, "-f", &binding("node-b")]),
        "Error from server (Conflict): Operation cannot be fulfilled on pods/binding \"placed\": pod placed is already assigned to node \"node-a\"\n"
    );
}

/// Deleting the session's namespace: nothing finishes it yet (no
/// namespace controller), so kubectl must not wait; it stays
/// Terminating.
pub(crate) fn namespace_deletion(session: &Session) {
    let ns = session.namespace.as_str();
    assert_eq!(
        session
            .kubectl
            .ok(&["delete", "namespace", ns, "--wait=false"]),
        format!("namespace \"{ns}\" deleted\n")
    );
    assert_eq!(
        session
            .kubectl
            .ok(&["get", "namespace", ns, "-o", "jsonpath={.status.phase}"]),
        "Terminating"
    );
    // NamespaceLifecycle refuses new objects in it.
    let late = session.manifest(
        "late.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: {ns}\n"),
    );
    assert_eq!(
        session.kubectl.fails(&["create", "-f", &late]),
        format!("Error from server (Forbidden): error when creating \"{late}\": configmaps \"late\" is forbidden: unable to create new content in namespace {ns} because it is being terminated\n")
    );
}
