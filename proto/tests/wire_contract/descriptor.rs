//! Reading `keel_proto::FILE_DESCRIPTOR_SET` back, and the assertions the
//! other modules are written with.

use std::collections::BTreeMap;

use keel_proto::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

/// Decodes the embedded descriptor set.
fn descriptor_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("FILE_DESCRIPTOR_SET decodes")
}

/// Every method of every service in `package`: full gRPC path →
/// (client streaming, server streaming).
pub(crate) fn methods_of_package(package: &str) -> BTreeMap<String, (bool, bool)> {
    let mut methods = BTreeMap::new();
    for file in descriptor_set().file {
        if file.package() != package {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                let path = format!("/{package}.{}/{}", service.name(), method.name());
                let streaming = (method.client_streaming(), method.server_streaming());
                assert!(methods.insert(path, streaming).is_none());
            }
        }
    }
    methods
}

/// Every method of every package: full gRPC path → (input, output) type.
pub(crate) fn method_io() -> BTreeMap<String, (String, String)> {
    let mut io = BTreeMap::new();
    for file in descriptor_set().file {
        for service in &file.service {
            for method in &service.method {
                let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                let types = (
                    method.input_type().to_owned(),
                    method.output_type().to_owned(),
                );
                io.insert(path, types);
            }
        }
    }
    io
}

/// Finds a message by full name without the leading dot
/// (`etcdserverpb.RangeRequest`, `mvccpb.Event`).
fn message(full_name: &str) -> DescriptorProto {
    for file in descriptor_set().file {
        let prefix = format!("{}.", file.package());
        if let Some(path) = full_name.strip_prefix(&prefix) {
            if let Some(found) = find_message(&file.message_type, path) {
                return found;
            }
        }
    }
    panic!("message {full_name} is not in FILE_DESCRIPTOR_SET");
}

fn find_message(messages: &[DescriptorProto], path: &str) -> Option<DescriptorProto> {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let found = messages.iter().find(|m| m.name() == head)?;
    match rest {
        None => Some(found.clone()),
        Some(rest) => find_message(&found.nested_type, rest),
    }
}

/// Finds an enum by full name without the leading dot, at package level or
/// nested in a message.
fn enumeration(full_name: &str) -> EnumDescriptorProto {
    let (parent, name) = full_name.rsplit_once('.').expect("qualified enum name");
    let top_level = descriptor_set()
        .file
        .into_iter()
        .filter(|file| file.package() == parent)
        .flat_map(|file| file.enum_type)
        .find(|e| e.name() == name);
    top_level
        .or_else(|| {
            message(parent)
                .enum_type
                .into_iter()
                .find(|e| e.name() == name)
        })
        .unwrap_or_else(|| panic!("enum {full_name} is not in FILE_DESCRIPTOR_SET"))
}

/// Describes a field's type the way the expectations spell it:
/// `int64`, `bytes`, `mvccpb.KeyValue`, `repeated string`, ...
fn field_type(field: &prost_types::FieldDescriptorProto) -> String {
    let base = match field.r#type() {
        Type::Message | Type::Enum => field.type_name().trim_start_matches('.').to_owned(),
        Type::Double => "double".to_owned(),
        Type::Float => "float".to_owned(),
        Type::Int64 => "int64".to_owned(),
        Type::Uint64 => "uint64".to_owned(),
        Type::Int32 => "int32".to_owned(),
        Type::Fixed64 => "fixed64".to_owned(),
        Type::Fixed32 => "fixed32".to_owned(),
        Type::Bool => "bool".to_owned(),
        Type::String => "string".to_owned(),
        Type::Group => "group".to_owned(),
        Type::Bytes => "bytes".to_owned(),
        Type::Uint32 => "uint32".to_owned(),
        Type::Sfixed32 => "sfixed32".to_owned(),
        Type::Sfixed64 => "sfixed64".to_owned(),
        Type::Sint32 => "sint32".to_owned(),
        Type::Sint64 => "sint64".to_owned(),
    };
    if field.label() == Label::Repeated {
        format!("repeated {base}")
    } else {
        base
    }
}

/// Asserts the message has exactly these fields (name, tag, type): none
/// missing, none extra.
pub(crate) fn assert_fields(full_name: &str, expected: &[(&str, i32, &str)]) {
    let actual: BTreeMap<String, (i32, String)> = message(full_name)
        .field
        .iter()
        .map(|f| (f.name().to_owned(), (f.number(), field_type(f))))
        .collect();
    let expected: BTreeMap<String, (i32, String)> = expected
        .iter()
        .map(|(name, tag, ty)| ((*name).to_owned(), (*tag, (*ty).to_owned())))
        .collect();
    assert_eq!(actual, expected, "fields of {full_name}");
}

/// Asserts the message's oneof `oneof_name` holds exactly these fields.
pub(crate) fn assert_oneof(full_name: &str, oneof_name: &str, expected: &[&str]) {
    let message = message(full_name);
    let index = message
        .oneof_decl
        .iter()
        .position(|o| o.name() == oneof_name)
        .unwrap_or_else(|| panic!("{full_name} has no oneof {oneof_name}"));
    let members: Vec<&str> = message
        .field
        .iter()
        .filter(|f| f.oneof_index == Some(index as i32) && !f.proto3_optional())
        .map(prost_types::FieldDescriptorProto::name)
        .collect();
    assert_eq!(members, expected, "oneof {oneof_name} of {full_name}");
}

/// Asserts the enum has exactly these values.
pub(crate) fn assert_enum(full_name: &str, expected: &[(&str, i32)]) {
    let actual: Vec<(String, i32)> = enumeration(full_name)
        .value
        .iter()
        .map(|v| (v.name().to_owned(), v.number()))
        .collect();
    let expected: Vec<(String, i32)> = expected
        .iter()
        .map(|(name, number)| ((*name).to_owned(), *number))
        .collect();
    assert_eq!(actual, expected, "values of {full_name}");
}
