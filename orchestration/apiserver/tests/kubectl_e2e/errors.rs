//! The errors, as kubectl prints kube-apiserver's Statuses (or its own
//! client-side ones).

use super::Session;

/// The errors, as kubectl prints kube-apiserver's Statuses.
pub(crate) fn errors(session: &Session) {
    let ns = session.namespace.as_str();
    assert_eq!(
        session.fails(&["get", "configmap", "nope"]),
        "Error from server (NotFound): configmaps \"nope\" not found\n"
    );
    assert_eq!(
        session.fails(&["get", "deployment", "nope"]),
        "Error from server (NotFound): deployments.apps \"nope\" not found\n"
    );
    assert_eq!(
        session.fails(&["delete", "configmap", "nope"]),
        "Error from server (NotFound): configmaps \"nope\" not found\n"
    );

    // Create twice.
    let again = session.manifest(
        "again.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: again\n  namespace: {ns}\n"),
    );
    assert_eq!(
        session.kubectl.ok(&["create", "-f", &again]),
        "configmap/again created\n"
    );
    assert_eq!(
        session.kubectl.fails(&["create", "-f", &again]),
        format!("Error from server (AlreadyExists): error when creating \"{again}\": configmaps \"again\" already exists\n")
    );

    // Replace at a resourceVersion that is no longer current.
    let stale = session.ok(&["get", "configmap", "again", "-o", "json"]);
    let stale = session.manifest("stale.json", &stale);
    session.ok(&["label", "configmap", "again", "moved=on"]);
    assert_eq!(
        session.kubectl.fails(&["replace", "-f", &stale]),
        format!("Error from server (Conflict): error when replacing \"{stale}\": Operation cannot be fulfilled on configmaps \"again\": the object has been modified; please apply your changes to the latest version and try again\n")
    );

    // An invalid Deployment: 422 with one cause per field
    // (apps validation: ValidateDeploymentSpec), which kubectl lists.
    let bad = session.manifest(
        "bad.yaml",
        &format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
  namespace: {ns}
spec:
  replicas: -1
  selector:
    matchLabels: {{app: bad}}
  template:
    metadata:
      labels: {{app: other}}
    spec:
      containers:
      - name: web
        image: nginx
"
        ),
    );
    assert_eq!(
        session.kubectl.fails(&["create", "-f", &bad]),
        "The Deployment \"bad\" is invalid: \n\
         * spec.replicas: Invalid value: -1: must be greater than or equal to 0\n\
         * spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`\n"
    );

    // Malformed YAML never leaves kubectl.
    let malformed = session.manifest(
        "malformed.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n",
    );
    let stderr = session.kubectl.fails(&["create", "-f", &malformed]);
    assert!(
        stderr.starts_with(&format!(
            "error: error parsing {malformed}: error converting YAML to JSON: yaml: "
        )),
        "{stderr}"
    );

    // A body of another type than the path's (handlers/create.go's
    // transformDecodeError).
    let secret = session.manifest(
        "secret.json",
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}"#,
    );
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    assert_eq!(
        session.kubectl.fails(&["create", "--raw", &path, "-f", &secret]),
        "Error from server (BadRequest): Secret in version \"v1\" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion\n"
    );
    // A kind in lowercase: kubectl finds the resource, the server's scheme
    // has no such kind. kubectl 1.27+ does not find it in OpenAPI, lists
    // the custom resource definitions (none), and sends it; kubectl 1.20
    // finds no schema to validate it against, and sends it.
    let lowercase = session.manifest(
        "lowercase.yaml",
        &format!("apiVersion: v1\nkind: configmap\nmetadata:\n  name: lower\n  namespace: {ns}\n"),
    );
    assert_eq!(
        session.kubectl.fails(&["create", "-f", &lowercase]),
        format!("Error from server (BadRequest): error when creating \"{lowercase}\": configmap in version \"v1\" cannot be handled as a ConfigMap: no kind \"configmap\" is registered for version \"v1\" in scheme \"pkg/api/legacyscheme/scheme.go:30\"\n")
    );

    // A namespace that does not exist (NamespaceLifecycle admission).
    let nowhere = session.manifest(
        "nowhere.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nowhere\n",
    );
    assert_eq!(
        session.kubectl.fails(&["create", "-f", &nowhere]),
        format!("Error from server (NotFound): error when creating \"{nowhere}\": namespaces \"nowhere\" not found\n")
    );

    unknown_field(session);

    assert_eq!(
        session.kubectl.fails(&["delete", "namespace", "default"]),
        "Error from server (Forbidden): namespaces \"default\" is forbidden: this namespace may not be deleted\n"
    );
}

/// A field the kind does not have. kubectl 1.27+ sends
/// `fieldValidation=Strict` and prints the server's strict decoding
/// error; 1.20 validates client-side against OpenAPI v2, and with
/// `--validate=false` sends no fieldValidation, which kube-apiserver
/// takes as Warn: created, with a warning.
fn unknown_field(session: &Session) {
    let ns = session.namespace.as_str();
    let unknown = session.manifest(
        "unknown.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\n  namespace: {ns}\ndata:\n  a: b\nbogus: 1\n"
        ),
    );
    if session.server_validates() {
        assert_eq!(
            session.kubectl.fails(&["create", "-f", &unknown]),
            format!("Error from server (BadRequest): error when creating \"{unknown}\": strict decoding error: unknown field \"bogus\"\n")
        );
        // --validate=warn: created, the server's warning printed.
        let (stdout, stderr) =
            session
                .kubectl
                .ok_with_stderr(&["create", "-f", &unknown, "--validate=warn"]);
        assert_eq!(stdout, "configmap/odd created\n");
        assert_eq!(stderr, "Warning: unknown field \"bogus\"\n");
    } else {
        assert_eq!(
            session.kubectl.fails(&["create", "-f", &unknown]),
            format!("error: error validating \"{unknown}\": error validating data: ValidationError(ConfigMap): unknown field \"bogus\" in io.k8s.api.core.v1.ConfigMap; if you choose to ignore these errors, turn validation off with --validate=false\n")
        );
        let (stdout, stderr) =
            session
                .kubectl
                .ok_with_stderr(&["create", "-f", &unknown, "--validate=false"]);
        assert_eq!(stdout, "configmap/odd created\n");
        assert_eq!(stderr, "Warning: unknown field \"bogus\"\n");
    }
}
