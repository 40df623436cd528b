//! The tables against the descriptor set they describe.

use prost_reflect::Kind;

use super::go_json::{INLINED, ZERO_KEPT};
use super::{kinds, DESCRIPTORS};

#[test]
fn zero_kept_fields_are_sorted_for_binary_search() {
    assert!(ZERO_KEPT.windows(2).all(|pair| pair[0] < pair[1]));
}

#[test]
fn zero_kept_fields_are_singular_scalars_of_real_messages() {
    for (message, field) in ZERO_KEPT {
        let descriptor = DESCRIPTORS
            .get_message_by_name(message)
            .unwrap_or_else(|| panic!("no message {message}"));
        let field = descriptor
            .get_field_by_name(field)
            .unwrap_or_else(|| panic!("no field {message}.{field}"));
        assert!(
            !field.is_list() && !field.is_map(),
            "{message}.{}",
            field.name()
        );
        assert!(
            !matches!(field.kind(), Kind::Message(_)),
            "{message}.{}",
            field.name()
        );
    }
}

#[test]
fn inlined_fields_are_sorted_singular_messages() {
    assert!(INLINED.windows(2).all(|pair| pair[0] < pair[1]));
    for (message, field) in INLINED {
        let field = DESCRIPTORS
            .get_message_by_name(message)
            .and_then(|descriptor| descriptor.get_field_by_name(field))
            .unwrap_or_else(|| panic!("no field {message}.{field}"));
        assert!(!field.is_list(), "{message}.{}", field.name());
        assert!(
            matches!(field.kind(), Kind::Message(_)),
            "{message}.{}",
            field.name()
        );
    }
}

#[test]
fn every_kind_read_has_its_message() {
    for (api_version, kind) in kinds::all() {
        let name = kinds::message_name(api_version, kind)
            .unwrap_or_else(|| panic!("{api_version} {kind} has no message name"));
        assert!(
            DESCRIPTORS.get_message_by_name(&name).is_some(),
            "{api_version} {kind}: no message {name}"
        );
    }
}

#[test]
fn kinds_keel_does_not_serve_are_not_registered() {
    assert_eq!(kinds::message_name("v1", "PodSpec"), None);
    assert_eq!(kinds::message_name("v1", "ServiceAccount"), None);
    assert_eq!(kinds::message_name("apps/v2", "Deployment"), None);
    assert_eq!(
        kinds::message_name("extensions/v1beta1", "DeleteOptions"),
        None
    );
}
