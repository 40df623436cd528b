//! The recorder's Events and the correlator's folding, on a fake clock;
//! expectations from client-go's `tools/record` (event.go,
//! events_cache.go and their tests).

use keel_api::k8s_openapi::api::core::v1::ObjectReference;
use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::*;

fn now() -> Timestamp {
    "2026-12-07T12:00:00Z".parse().expect("a time")
}

fn later(seconds: i64) -> Timestamp {
    now() + SignedDuration::from_secs(seconds)
}

fn deployment() -> ObjectReference {
    ObjectReference {
        api_version: Some("apps/v1".into()),
        kind: Some("Deployment".into()),
        name: Some("web".into()),
        namespace: Some("shop".into()),
        uid: Some("d-uid".into()),
        ..ObjectReference::default()
    }
}

fn source() -> Source {
    Source {
        component: "deployment-controller".into(),
        host: String::new(),
    }
}

fn event(message: &str, at: Timestamp) -> Event {
    make_event(
        &deployment(),
        &Notice::normal("ScalingReplicaSet", message),
        &source(),
        at,
    )
}

#[test]
fn an_event_is_named_after_its_object_and_the_time() {
    let event = serde_json::to_value(event("Scaled up replica set web-1 from 0 to 3", now()))
        .expect("json");
    // 2026-12-07T12:00:00Z is 1_796_644_800 s after the epoch.
    assert_eq!(
        event["metadata"]["name"],
        format!("web.{:x}", 1_796_644_800_000_000_000_i64)
    );
    assert_eq!(event["metadata"]["namespace"], "shop");
    assert_eq!(event["count"], 1);
    assert_eq!(event["firstTimestamp"], "2026-12-07T12:00:00Z");
    assert_eq!(event["lastTimestamp"], "2026-12-07T12:00:00Z");
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["reason"], "ScalingReplicaSet");
    assert_eq!(
        event["source"],
        json!({"component": "deployment-controller"})
    );
    assert_eq!(event["involvedObject"]["kind"], "Deployment");
    // A cluster-scoped object's events go to "default".
    let node = ObjectReference {
        kind: Some("Node".into()),
        name: Some("n1".into()),
        ..ObjectReference::default()
    };
    let event = make_event(
        &node,
        &Notice::warning("NodeNotReady", "x"),
        &source(),
        now(),
    );
    assert_eq!(event.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
}

#[test]
fn a_repeated_event_becomes_a_count_on_the_first() {
    let mut correlator = Correlator::new(CorrelatorLimits::default());
    let Correlation::Create(first) = correlator.correlate(event("same", now()), now()) else {
        panic!("the first one is created");
    };
    let repeat = correlator.correlate(event("same", later(5)), later(5));
    let Correlation::Patch {
        namespace,
        name,
        patch,
        event,
    } = repeat
    else {
        panic!("the repeat patches the first: {repeat:?}");
    };
    assert_eq!(
        (namespace.as_str(), Some(name.as_str())),
        ("shop", first.metadata.name.as_deref())
    );
    assert_eq!(
        patch,
        json!({"count": 2, "lastTimestamp": "2026-12-07T12:00:05Z", "message": "same"})
    );
    assert_eq!(event.first_timestamp, first.first_timestamp);
    let third = correlator.correlate(self::event("same", later(9)), later(9));
    assert!(matches!(third, Correlation::Patch { ref patch, .. } if patch["count"] == 3));
    // Another message is another event.
    assert!(matches!(
        correlator.correlate(self::event("other", later(10)), later(10)),
        Correlation::Create(_)
    ));
}

#[test]
fn ten_different_messages_in_ten_minutes_are_combined() {
    let mut correlator = Correlator::new(CorrelatorLimits::default());
    for i in 0..9 {
        let result = correlator.correlate(event(&format!("message {i}"), later(i)), later(i));
        assert!(
            matches!(result, Correlation::Create(ref e) if e.message == Some(format!("message {i}")))
        );
    }
    let Correlation::Create(combined) =
        correlator.correlate(event("message 9", later(9)), later(9))
    else {
        panic!("the tenth is combined into a new event");
    };
    assert_eq!(
        combined.message.as_deref(),
        Some("(combined from similar events): message 9")
    );
    let next = correlator.correlate(event("message 10", later(10)), later(10));
    let Correlation::Patch { patch, .. } = next else {
        panic!("then counted: {next:?}")
    };
    assert_eq!(patch["count"], 2);
    assert_eq!(
        patch["message"],
        "(combined from similar events): message 10"
    );
    // After a quiet window, messages stand alone again.
    let quiet = later(10 + 601);
    assert!(matches!(correlator.correlate(event("fresh", quiet), quiet),
                     Correlation::Create(ref e) if e.message.as_deref() == Some("fresh")));
}

#[test]
fn a_flooding_source_is_held_back() {
    let limits = CorrelatorLimits {
        spam_burst: 3,
        ..CorrelatorLimits::default()
    };
    let mut correlator = Correlator::new(limits);
    for _ in 0..3 {
        assert_ne!(
            correlator.correlate(event("same", now()), now()),
            Correlation::Drop
        );
    }
    assert_eq!(
        correlator.correlate(event("same", now()), now()),
        Correlation::Drop
    );
    // One more token 300 s later.
    assert_ne!(
        correlator.correlate(event("same", later(300)), later(300)),
        Correlation::Drop
    );
    assert_eq!(
        correlator.correlate(event("same", later(300)), later(300)),
        Correlation::Drop
    );
}

#[test]
fn the_caches_are_bounded() {
    let limits = CorrelatorLimits {
        cache_entries_max: 2,
        ..CorrelatorLimits::default()
    };
    let mut correlator = Correlator::new(limits);
    assert!(matches!(
        correlator.correlate(event("a", now()), now()),
        Correlation::Create(_)
    ));
    for message in ["b", "c"] {
        correlator.correlate(event(message, now()), now());
    }
    assert!(correlator.observations.len() <= 2);
    // "a" fell out of the cache, so it is created again.
    assert!(matches!(
        correlator.correlate(event("a", later(1)), later(1)),
        Correlation::Create(_)
    ));
}
