"""The official Kubernetes Python client (PyPI's `kubernetes`) against keel's
HTTP front, through its typed API (CoreV1Api, AppsV1Api) as a user's program
calls it.

Run by orchestration/apiserver/tests/python_client.rs against one `keel up`:

    KUBECONFIG       the kubeconfig `keel up` wrote (the client loads it)
    KEEL_ETCD_URL    keel's etcd API, for compacting its history
    ETCDCTL          the etcdctl binary (Debian's etcd-client)

Every expectation is Kubernetes' documented behaviour: the messages of
apimachinery's errors (staging/src/k8s.io/apimachinery/pkg/api/errors/
errors.go), what a delete answers (apiserver/pkg/registry/generic/registry/
store.go, finalizeDelete: a Status, or the object where the registry sets
ReturnDeletedObject, as pods do), how patches merge
(apiserver/pkg/endpoints/handlers/patch.go) and how a watch streams
(apiserver/pkg/storage/cacher).

Plain unittest, one object name per test so tests do not see each other's
objects; every test is in the "default" namespace.
"""

import json
import os
import random
import subprocess
import threading
import time
import unittest

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NAMESPACE = "default"

config.load_kube_config(config_file=os.environ["KUBECONFIG"])
CORE = client.CoreV1Api()
APPS = client.AppsV1Api()

CONFLICT_MESSAGE = (
    'Operation cannot be fulfilled on configmaps "{}": the object has been '
    "modified; please apply your changes to the latest version and try again"
)


def config_map(name, data=None, labels=None):
    """A ConfigMap to create."""
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        data=data if data is not None else {"k": "v"},
    )


def deployment(name, containers):
    """A Deployment of `containers` ([(name, image)])."""
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(name=c, image=image)
                        for c, image in containers
                    ]
                ),
            ),
        ),
    )


def status_of(error):
    """The metav1.Status an ApiException carries in its body."""
    return json.loads(error.body)


def etcdctl(*args):
    """Runs etcdctl against keel's etcd API; answers its stdout."""
    done = subprocess.run(
        [os.environ["ETCDCTL"], "--endpoints", os.environ["KEEL_ETCD_URL"], *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return done.stdout


def merge_patch_config_map(name, body):
    """A JSON merge patch (application/merge-patch+json) of a ConfigMap.

    This client version's typed patch methods choose the content type from
    the body (a list: JSON patch; else strategic merge) and take no
    `_content_type`, so the merge patch goes through the same ApiClient's
    call_api with the header set, as the client's own docs suggest.
    """
    return CORE.api_client.call_api(
        "/api/v1/namespaces/{namespace}/configmaps/{name}",
        "PATCH",
        path_params={"namespace": NAMESPACE, "name": name},
        header_params={
            "Accept": "application/json",
            "Content-Type": "application/merge-patch+json",
        },
        body=body,
        response_type="V1ConfigMap",
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )


class Crud(unittest.TestCase):
    """Create, read, list, replace, delete and their errors."""

    def test_create_then_get(self):
        created = CORE.create_namespaced_config_map(
            NAMESPACE, config_map("crud-create", labels={"tier": "front"})
        )
        self.assertIsInstance(created, client.V1ConfigMap)
        self.assertEqual(created.metadata.namespace, NAMESPACE)
        self.assertEqual(len(created.metadata.uid), 36)
        self.assertTrue(created.metadata.resource_version)
        self.assertIsNotNone(created.metadata.creation_timestamp)
        read = CORE.read_namespaced_config_map("crud-create", NAMESPACE)
        self.assertEqual(read.data, {"k": "v"})
        self.assertEqual(read.metadata.labels, {"tier": "front"})
        self.assertEqual(read.metadata.uid, created.metadata.uid)
        self.assertEqual(
            read.metadata.resource_version, created.metadata.resource_version
        )

    def test_list_with_a_label_selector(self):
        for name, app in [("sel-a1", "a"), ("sel-b", "b"), ("sel-a2", "a")]:
            CORE.create_namespaced_config_map(
                NAMESPACE, config_map(name, labels={"selected": app})
            )
        listed = CORE.list_namespaced_config_map(
            NAMESPACE, label_selector="selected=a"
        )
        self.assertIsInstance(listed, client.V1ConfigMapList)
        self.assertTrue(listed.metadata.resource_version)
        # Lists come in key order: by name within a namespace.
        self.assertEqual([m.metadata.name for m in listed.items], ["sel-a1", "sel-a2"])
        listed = CORE.list_namespaced_config_map(
            NAMESPACE, label_selector="selected in (a,b),selected!=a"
        )
        self.assertEqual([m.metadata.name for m in listed.items], ["sel-b"])
        everywhere = CORE.list_config_map_for_all_namespaces(
            label_selector="selected"
        )
        self.assertEqual(len(everywhere.items), 3)

    def test_replace(self):
        created = CORE.create_namespaced_config_map(
            NAMESPACE, config_map("crud-replace")
        )
        created.data["k"] = "w"
        replaced = CORE.replace_namespaced_config_map(
            "crud-replace", NAMESPACE, created
        )
        self.assertEqual(replaced.data, {"k": "w"})
        self.assertNotEqual(
            replaced.metadata.resource_version, created.metadata.resource_version
        )
        self.assertEqual(replaced.metadata.uid, created.metadata.uid)
        read = CORE.read_namespaced_config_map("crud-replace", NAMESPACE)
        self.assertEqual(read.data, {"k": "w"})

    def test_replace_at_a_stale_resource_version_conflicts(self):
        created = CORE.create_namespaced_config_map(
            NAMESPACE, config_map("crud-stale")
        )
        created.data["k"] = "first"
        CORE.replace_namespaced_config_map("crud-stale", NAMESPACE, created)
        created.data["k"] = "second"
        with self.assertRaises(ApiException) as raised:
            CORE.replace_namespaced_config_map("crud-stale", NAMESPACE, created)
        self.assertEqual(raised.exception.status, 409)
        status = status_of(raised.exception)
        self.assertEqual(status["kind"], "Status")
        self.assertEqual(status["status"], "Failure")
        self.assertEqual(status["reason"], "Conflict")
        self.assertEqual(status["code"], 409)
        self.assertEqual(status["message"], CONFLICT_MESSAGE.format("crud-stale"))
        read = CORE.read_namespaced_config_map("crud-stale", NAMESPACE)
        self.assertEqual(read.data, {"k": "first"})

    def test_create_twice_already_exists(self):
        CORE.create_namespaced_config_map(NAMESPACE, config_map("crud-twice"))
        with self.assertRaises(ApiException) as raised:
            CORE.create_namespaced_config_map(NAMESPACE, config_map("crud-twice"))
        self.assertEqual(raised.exception.status, 409)
        status = status_of(raised.exception)
        self.assertEqual(status["reason"], "AlreadyExists")
        self.assertEqual(status["message"], 'configmaps "crud-twice" already exists')

    def test_get_missing_not_found(self):
        with self.assertRaises(ApiException) as raised:
            CORE.read_namespaced_config_map("x", NAMESPACE)
        self.assertEqual(raised.exception.status, 404)
        status = status_of(raised.exception)
        self.assertEqual(status["reason"], "NotFound")
        self.assertEqual(status["message"], 'configmaps "x" not found')
        with self.assertRaises(ApiException) as raised:
            APPS.read_namespaced_deployment("x", NAMESPACE)
        self.assertEqual(raised.exception.status, 404)
        status = status_of(raised.exception)
        self.assertEqual(status["message"], 'deployments.apps "x" not found')

    # Until the front's error Statuses carry details (it answers
    # "details": {}).
    def test_error_statuses_name_the_object(self):
        # errors.go: NewNotFound, NewAlreadyExists and NewConflict fill
        # details with the name, the group (left out when empty) and the
        # resource in details.kind.
        with self.assertRaises(ApiException) as raised:
            APPS.read_namespaced_deployment("x", NAMESPACE)
        self.assertEqual(
            status_of(raised.exception)["details"],
            {"name": "x", "group": "apps", "kind": "deployments"},
        )
        CORE.create_namespaced_config_map(NAMESPACE, config_map("crud-details"))
        with self.assertRaises(ApiException) as raised:
            CORE.create_namespaced_config_map(NAMESPACE, config_map("crud-details"))
        self.assertEqual(
            status_of(raised.exception)["details"],
            {"name": "crud-details", "kind": "configmaps"},
        )
        stale = CORE.read_namespaced_config_map("crud-details", NAMESPACE)
        changed = CORE.read_namespaced_config_map("crud-details", NAMESPACE)
        changed.data = {"changed": "yes"}
        # A real change moves the resourceVersion (one that changes nothing
        # writes nothing, in Kubernetes as here).
        CORE.replace_namespaced_config_map("crud-details", NAMESPACE, changed)
        with self.assertRaises(ApiException) as raised:
            CORE.replace_namespaced_config_map("crud-details", NAMESPACE, stale)
        self.assertEqual(
            status_of(raised.exception)["details"],
            {"name": "crud-details", "kind": "configmaps"},
        )

    def test_delete_answers_a_status(self):
        # ConfigMaps' registry returns a Status, with the resource (not the
        # kind) in details.kind and the deleted object's uid.
        created = CORE.create_namespaced_config_map(
            NAMESPACE, config_map("crud-delete")
        )
        deleted = CORE.delete_namespaced_config_map("crud-delete", NAMESPACE)
        self.assertIsInstance(deleted, client.V1Status)
        self.assertEqual(deleted.status, "Success")
        self.assertEqual(deleted.details.name, "crud-delete")
        self.assertEqual(deleted.details.kind, "configmaps")
        self.assertEqual(deleted.details.uid, created.metadata.uid)
        with self.assertRaises(ApiException) as raised:
            CORE.read_namespaced_config_map("crud-delete", NAMESPACE)
        self.assertEqual(raised.exception.status, 404)
        with self.assertRaises(ApiException) as raised:
            CORE.delete_namespaced_config_map("crud-delete", NAMESPACE)
        self.assertEqual(raised.exception.status, 404)
        self.assertEqual(
            status_of(raised.exception)["message"],
            'configmaps "crud-delete" not found',
        )

    def test_delete_a_deployment_answers_a_status_with_its_group(self):
        created = APPS.create_namespaced_deployment(
            NAMESPACE, deployment("crud-deploy", [("main", "nginx")])
        )
        deleted = APPS.delete_namespaced_deployment("crud-deploy", NAMESPACE)
        self.assertIsInstance(deleted, client.V1Status)
        self.assertEqual(deleted.status, "Success")
        self.assertEqual(deleted.details.group, "apps")
        self.assertEqual(deleted.details.kind, "deployments")
        self.assertEqual(deleted.details.uid, created.metadata.uid)

    def test_delete_a_pod_answers_the_pod(self):
        # Pods' registry sets ReturnDeletedObject; a pod on no node is
        # deleted at once (pkg/registry/core/pod/strategy.go,
        # CheckGracefulDelete).
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="crud-pod"),
            spec=client.V1PodSpec(
                containers=[client.V1Container(name="main", image="busybox")]
            ),
        )
        created = CORE.create_namespaced_pod(NAMESPACE, pod)
        deleted = CORE.delete_namespaced_pod("crud-pod", NAMESPACE)
        self.assertIsInstance(deleted, client.V1Pod)
        self.assertEqual(deleted.metadata.name, "crud-pod")
        self.assertEqual(deleted.metadata.uid, created.metadata.uid)
        with self.assertRaises(ApiException) as raised:
            CORE.read_namespaced_pod("crud-pod", NAMESPACE)
        self.assertEqual(
            status_of(raised.exception)["message"], 'pods "crud-pod" not found'
        )


class Patch(unittest.TestCase):
    """The three patch types kube-apiserver takes as JSON."""

    # Until the front serves PATCH.
    def test_strategic_merge_patch_merges_containers_by_name(self):
        APPS.create_namespaced_deployment(
            NAMESPACE,
            deployment("patch-smp", [("main", "nginx:1.27"), ("side", "busybox")]),
        )
        # A dict body goes as application/strategic-merge-patch+json.
        patched = APPS.patch_namespaced_deployment(
            "patch-smp",
            NAMESPACE,
            {
                "metadata": {"labels": {"tier": "web"}},
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}
                    }
                },
            },
        )
        self.assertIsInstance(patched, client.V1Deployment)
        containers = patched.spec.template.spec.containers
        self.assertEqual(
            [(c.name, c.image) for c in containers],
            [("main", "nginx:1.28"), ("side", "busybox")],
        )
        self.assertEqual(patched.metadata.labels, {"tier": "web"})
        self.assertEqual(patched.metadata.generation, 2)

    # Until the front serves PATCH.
    def test_json_merge_patch(self):
        CORE.create_namespaced_config_map(
            NAMESPACE, config_map("patch-merge", data={"k": "v", "gone": "x"})
        )
        patched = merge_patch_config_map(
            "patch-merge", {"data": {"gone": None, "new": "n"}}
        )
        self.assertEqual(patched.data, {"k": "v", "new": "n"})

    # Until the front serves PATCH.
    def test_json_patch(self):
        CORE.create_namespaced_config_map(NAMESPACE, config_map("patch-json"))
        # A list body goes as application/json-patch+json.
        patched = CORE.patch_namespaced_config_map(
            "patch-json",
            NAMESPACE,
            [
                {"op": "test", "path": "/data/k", "value": "v"},
                {"op": "replace", "path": "/data/k", "value": "w"},
                {"op": "add", "path": "/data/n", "value": "1"},
            ],
        )
        self.assertEqual(patched.data, {"k": "w", "n": "1"})

    # Until the front serves PATCH.
    def test_a_failed_json_patch_test_is_unprocessable(self):
        CORE.create_namespaced_config_map(NAMESPACE, config_map("patch-test"))
        with self.assertRaises(ApiException) as raised:
            CORE.patch_namespaced_config_map(
                "patch-test",
                NAMESPACE,
                [{"op": "test", "path": "/data/k", "value": "not-v"}],
            )
        # handlers/patch.go: NewGenericServerResponse(422, ...) → Invalid.
        self.assertEqual(raised.exception.status, 422)
        self.assertEqual(status_of(raised.exception)["reason"], "Invalid")

    # Until the front serves PATCH.
    def test_patch_of_a_missing_object_is_not_found(self):
        with self.assertRaises(ApiException) as raised:
            CORE.patch_namespaced_config_map(
                "patch-missing", NAMESPACE, {"data": {"k": "v"}}
            )
        self.assertEqual(raised.exception.status, 404)
        self.assertEqual(
            status_of(raised.exception)["message"],
            'configmaps "patch-missing" not found',
        )


class Validation(unittest.TestCase):
    """What kube-apiserver's validation refuses, as the client sees it."""

    # Until the front validates objects.
    def test_a_selector_that_misses_the_template_is_invalid(self):
        bad = deployment("bad-selector", [("main", "nginx")])
        bad.spec.template.metadata.labels = {"app": "other"}
        with self.assertRaises(ApiException) as raised:
            APPS.create_namespaced_deployment(NAMESPACE, bad)
        self.assertEqual(raised.exception.status, 422)
        status = status_of(raised.exception)
        # errors.go NewInvalid: "<Kind>.<group> <name> is invalid: <errors>";
        # pkg/apis/apps/validation: the template's labels must match.
        self.assertEqual(status["reason"], "Invalid")
        self.assertTrue(
            status["message"].startswith(
                'Deployment.apps "bad-selector" is invalid: '
                "spec.template.metadata.labels: Invalid value: "
            ),
            status["message"],
        )
        self.assertTrue(
            status["message"].endswith("`selector` does not match template `labels`"),
            status["message"],
        )
        details = status["details"]
        self.assertEqual(
            (details["name"], details["group"], details["kind"]),
            ("bad-selector", "apps", "Deployment"),
        )
        self.assertEqual(
            [(c["reason"], c["field"]) for c in details["causes"]],
            [("FieldValueInvalid", "spec.template.metadata.labels")],
        )


class Subresources(unittest.TestCase):
    """A deployment's status and scale subresources."""

    # Until the front serves subresources.
    def test_status_is_written_only_through_its_subresource(self):
        created = APPS.create_namespaced_deployment(
            NAMESPACE, deployment("sub-status", [("main", "nginx")])
        )
        # Through /status: the status is written, a spec change is not
        # (the registry's status strategy keeps the old spec).
        created.status = client.V1DeploymentStatus(replicas=1, observed_generation=1)
        created.spec.replicas = 5
        written = APPS.replace_namespaced_deployment_status(
            "sub-status", NAMESPACE, created
        )
        self.assertEqual(written.status.replicas, 1)
        self.assertEqual(written.spec.replicas, 1)
        read = APPS.read_namespaced_deployment_status("sub-status", NAMESPACE)
        self.assertEqual(read.status.observed_generation, 1)
        # Through the object: the spec is written, the status kept.
        read.spec.replicas = 2
        read.status.replicas = 7
        updated = APPS.replace_namespaced_deployment("sub-status", NAMESPACE, read)
        self.assertEqual(updated.spec.replicas, 2)
        self.assertEqual(updated.status.replicas, 1)

    # Until the front serves subresources.
    def test_scale_reads_and_sets_the_replicas(self):
        APPS.create_namespaced_deployment(
            NAMESPACE, deployment("sub-scale", [("main", "nginx")])
        )
        scale = APPS.read_namespaced_deployment_scale("sub-scale", NAMESPACE)
        # An autoscaling/v1 Scale, its selector as a label selector string.
        self.assertIsInstance(scale, client.V1Scale)
        self.assertEqual(scale.kind, "Scale")
        self.assertEqual(scale.api_version, "autoscaling/v1")
        self.assertEqual(scale.spec.replicas, 1)
        self.assertEqual(scale.status.selector, "app=sub-scale")
        scale.spec.replicas = 3
        scaled = APPS.replace_namespaced_deployment_scale(
            "sub-scale", NAMESPACE, scale
        )
        self.assertEqual(scaled.spec.replicas, 3)
        read = APPS.read_namespaced_deployment("sub-scale", NAMESPACE)
        self.assertEqual(read.spec.replicas, 3)
        self.assertEqual(read.metadata.generation, 2)


def collect(stream, count):
    """The first `count` events of a watch stream, then stops it."""
    events = []
    for event in stream:
        events.append(event)
        if len(events) == count:
            break
    return events


class Watch(unittest.TestCase):
    """kubernetes.watch.Watch().stream over the front's watches."""

    def test_added_modified_deleted_then_resume(self):
        labels = {"watched": "replay"}
        start = CORE.list_namespaced_config_map(
            NAMESPACE, label_selector="watched=replay"
        ).metadata.resource_version
        created = CORE.create_namespaced_config_map(
            NAMESPACE, config_map("watch-replay", labels=labels)
        )
        created.data["k"] = "w"
        replaced = CORE.replace_namespaced_config_map(
            "watch-replay", NAMESPACE, created
        )
        CORE.delete_namespaced_config_map("watch-replay", NAMESPACE)

        # From the list's resourceVersion: every change after it, in order.
        events = collect(
            watch.Watch().stream(
                CORE.list_namespaced_config_map,
                NAMESPACE,
                label_selector="watched=replay",
                resource_version=start,
                timeout_seconds=10,
            ),
            3,
        )
        self.assertEqual(
            [e["type"] for e in events], ["ADDED", "MODIFIED", "DELETED"]
        )
        self.assertIsInstance(events[0]["object"], client.V1ConfigMap)
        self.assertEqual(events[1]["object"].data, {"k": "w"})
        self.assertEqual(
            events[1]["object"].metadata.resource_version,
            replaced.metadata.resource_version,
        )

        # Resumed from the MODIFIED event's resourceVersion: only what came
        # after it.
        events = collect(
            watch.Watch().stream(
                CORE.list_namespaced_config_map,
                NAMESPACE,
                label_selector="watched=replay",
                resource_version=replaced.metadata.resource_version,
                timeout_seconds=10,
            ),
            1,
        )
        self.assertEqual(events[0]["type"], "DELETED")
        self.assertEqual(events[0]["object"].metadata.name, "watch-replay")

    def test_live_events_after_the_initial_state(self):
        created = CORE.create_namespaced_config_map(
            NAMESPACE, config_map("watch-live", labels={"watched": "live"})
        )

        def change_later():
            time.sleep(0.5)
            created.data["k"] = "live"
            CORE.replace_namespaced_config_map("watch-live", NAMESPACE, created)

        # No resourceVersion: the current state as ADDED, then changes.
        writer = threading.Thread(target=change_later)
        writer.start()
        try:
            events = collect(
                watch.Watch().stream(
                    CORE.list_namespaced_config_map,
                    NAMESPACE,
                    label_selector="watched=live",
                    timeout_seconds=10,
                ),
                2,
            )
        finally:
            writer.join()
        self.assertEqual([e["type"] for e in events], ["ADDED", "MODIFIED"])
        self.assertEqual(events[1]["object"].data, {"k": "live"})

    def test_a_compacted_resource_version_is_gone(self):
        created = CORE.create_namespaced_config_map(
            NAMESPACE, config_map("watch-gone", labels={"watched": "gone"})
        )
        old = created.metadata.resource_version
        for value in ["1", "2"]:
            created = CORE.read_namespaced_config_map("watch-gone", NAMESPACE)
            created.data["k"] = value
            latest = CORE.replace_namespaced_config_map(
                "watch-gone", NAMESPACE, created
            )
        # resourceVersions are keel's revisions: compact up to the latest.
        etcdctl("compact", latest.metadata.resource_version)
        with self.assertRaises(ApiException) as raised:
            collect(
                watch.Watch().stream(
                    CORE.list_namespaced_config_map,
                    NAMESPACE,
                    label_selector="watched=gone",
                    resource_version=old,
                    timeout_seconds=10,
                ),
                1,
            )
        # An ERROR event with a 410 Expired Status (NewResourceExpired,
        # "too old resource version: <asked> (<oldest>)"); the client
        # raises it as ApiException "<reason>: <message>".
        self.assertEqual(raised.exception.status, 410)
        self.assertTrue(
            raised.exception.reason.startswith(
                "Expired: too old resource version: " + old
            ),
            raised.exception.reason,
        )

    def test_bookmarks_before_the_timeout(self):
        listed = CORE.list_namespaced_config_map(
            NAMESPACE, label_selector="watched=bookmark"
        )
        began = time.monotonic()
        events = list(
            watch.Watch().stream(
                CORE.list_namespaced_config_map,
                NAMESPACE,
                label_selector="watched=bookmark",
                resource_version=listed.metadata.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=3,
            )
        )
        took = time.monotonic() - began
        # The watch ends at its timeout, with a bookmark before: an object
        # of the kind with only metadata.resourceVersion.
        self.assertGreater(took, 2)
        self.assertLess(took, 8)
        bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
        self.assertTrue(bookmarks, events)
        self.assertEqual([e["type"] for e in events], ["BOOKMARK"] * len(events))
        raw = bookmarks[-1]["raw_object"]
        self.assertEqual(raw["kind"], "ConfigMap")
        self.assertGreaterEqual(
            int(raw["metadata"]["resourceVersion"]),
            int(listed.metadata.resource_version),
        )


UPDATERS = 20
INCREMENTS_EACH = 10
# How often one increment may lose the race before the updater gives up.
ATTEMPTS_MAX = 1000
# After its n-th conflict in a row an updater waits a random time up to
# CONFLICT_BACKOFF_FIRST_SECONDS * 2^n (at most CONFLICT_BACKOFF_MAX_SECONDS)
# before it reads again, as client-go's retry.RetryOnConflict backs off:
# without it 20 updaters retry in lock step and most attempts lose (each
# losing PUT still costs the server a write round).
CONFLICT_BACKOFF_FIRST_SECONDS = 0.02
CONFLICT_BACKOFF_MAX_SECONDS = 0.5


class ConcurrentUpdaters(unittest.TestCase):
    """20 threads read-modify-write one counter with optimistic
    concurrency: GET, then PUT with the resourceVersion read, again on 409
    Conflict. None of the increments may be lost."""

    def test_no_update_is_lost(self):
        CORE.create_namespaced_config_map(
            NAMESPACE, config_map("counter", data={"count": "0"})
        )
        conflicts = []
        failures = []
        start = threading.Barrier(UPDATERS)

        def increment(core, jitter):
            """One increment; answers how many conflicts it took."""
            for attempt in range(ATTEMPTS_MAX):
                current = core.read_namespaced_config_map("counter", NAMESPACE)
                current.data["count"] = str(int(current.data["count"]) + 1)
                try:
                    core.replace_namespaced_config_map("counter", NAMESPACE, current)
                    return attempt
                except ApiException as error:
                    if error.status != 409 or status_of(error)["reason"] != "Conflict":
                        raise
                ceiling = min(
                    CONFLICT_BACKOFF_FIRST_SECONDS * 2**attempt,
                    CONFLICT_BACKOFF_MAX_SECONDS,
                )
                time.sleep(jitter.uniform(0, ceiling))
            raise AssertionError("no increment in %d attempts" % ATTEMPTS_MAX)

        def updater(seed):
            # An ApiClient (and so a connection pool) per thread.
            core = client.CoreV1Api(client.ApiClient())
            jitter = random.Random(seed)
            start.wait()
            try:
                conflicts.append(
                    sum(increment(core, jitter) for _ in range(INCREMENTS_EACH))
                )
            except Exception as error:  # reported by the main thread
                failures.append(repr(error))

        threads = [
            threading.Thread(target=updater, args=(seed,)) for seed in range(UPDATERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(failures, [])
        final = CORE.read_namespaced_config_map("counter", NAMESPACE)
        self.assertEqual(final.data["count"], str(UPDATERS * INCREMENTS_EACH))
        self.assertGreater(sum(conflicts), 0, "20 updaters at once conflict")
        print(
            "\n%d increments, %d conflicts retried"
            % (UPDATERS * INCREMENTS_EACH, sum(conflicts)),
            flush=True,
        )


if __name__ == "__main__":
    unittest.main(verbosity=2)
