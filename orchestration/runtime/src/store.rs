//! A store of Kubernetes objects over keel, with kube-apiserver's storage
//! semantics: an object is JSON under its key, its `resourceVersion` is the
//! key's mod_revision, a create is a transaction guarded by "the key does
//! not exist" (mod_revision 0), and an update or delete is a
//! compare-and-swap on the mod_revision it was read at.
//!
//! ```text
//!   create(obj) ─ defaults, uid, creationTimestamp ─► Txn[mod(key) = 0]      put
//!   update(obj) ─ read old ─ rv given: must be old's ─► Txn[mod(key) = old]  put
//!   update_with(f) ── read, f, CAS ── lost the race? read again (bounded)
//!   delete(name, rv?) ─ read ──────────────────────► Txn[mod(key) = old]  delete
//!   list(prefix, at, limit, continue) ─► one range at one revision
//! ```
//!
//! Everything is over [`serde_json::Value`], for the HTTP front and for
//! patches; [`Store::get_as`] and friends give k8s-openapi's types.

use base64::Engine as _;
use keel_api::deletion::{self, Deletion};
use keel_api::object::{self, name_of, set_resource_version, ObjectError};
use keel_api::ResourceInfo;
use keel_api::{service_ips, validation};
use keel_client::proto::etcdserverpb::response_op::Response as OpResponse;
use keel_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, WatchOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many times [`Store::update_with`] reads again after losing a race
/// before it answers Conflict (kube-apiserver retries until the request's
/// deadline; a bound keeps a hot object from holding a caller forever).
pub const UPDATE_ATTEMPTS_MAX: usize = 32;

/// The longest pause, in milliseconds, before the next attempt of an
/// update that lost a race: a random pause up to the attempt's number of
/// milliseconds, so that writers that collided do not collide again.
const RETRY_PAUSE_MS_MAX: u64 = 16;

/// A random pause after losing race number `attempt`.
async fn pause_after_lost_race(attempt: usize) {
    let bound = (attempt as u64).min(RETRY_PAUSE_MS_MAX) + 1;
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    tokio::time::sleep(std::time::Duration::from_millis(random % bound)).await;
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such object.
    #[error("{resource} \"{name}\" not found")]
    NotFound {
        /// The resource, qualified by its group ("pods", "deployments.apps").
        resource: String,
        /// The object's name.
        name: String,
    },
    /// An object of that name exists.
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists {
        /// The resource, qualified by its group.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// The object changed since the resourceVersion the caller read.
    #[error(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; \
         please apply your changes to the latest version and try again"
    )]
    Conflict {
        /// The resource, qualified by its group.
        resource: String,
        /// The object's name.
        name: String,
    },
    /// The object is not valid (kube-apiserver's 422 Invalid).
    #[error("{message}")]
    Invalid {
        /// kube-apiserver's message: `<Kind> "<name>" is invalid: ...`.
        message: String,
        /// The Status details, with a cause per error.
        details: Value,
    },
    /// A patch did not apply (its code and reason are the patch's).
    #[error("{}", .0.message())]
    Patch(#[from] keel_api::patch::PatchError),
    /// A pod could not be bound (Conflict).
    #[error("Operation cannot be fulfilled on pods/binding \"{name}\": {error}")]
    Bind {
        /// The pod's name.
        name: String,
        /// Why.
        error: keel_api::binding::BindError,
    },
    /// A delete's precondition did not hold (Conflict).
    #[error(transparent)]
    Precondition(#[from] keel_api::deletion::DeleteError),
    /// The continue token is not one this store made, or its revision was
    /// compacted.
    #[error("{0}")]
    BadContinue(String),
    /// The revision asked for was compacted.
    #[error("too old resource version: {requested} ({compacted})")]
    Gone {
        /// The revision asked for.
        requested: i64,
        /// The oldest revision keel still has.
        compacted: i64,
    },
    /// The object is not of its kind, or not an object.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// keel answered with an error (or did not answer).
    #[error(transparent)]
    Keel(#[from] keel_client::Error),
}

/// What a list answers.
#[derive(Debug, Clone, PartialEq)]
pub struct List {
    /// The objects, in key order (namespace, then name).
    pub items: Vec<Value>,
    /// The revision the list was read at.
    pub resource_version: i64,
    /// Where the next page starts, if there is one.
    pub continue_token: Option<String>,
}

/// How to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// At most this many objects (0: all).
    pub limit: i64,
    /// A token from the previous page's [`List::continue_token`].
    pub continue_token: Option<String>,
    /// Read at this revision (0: the latest).
    pub revision: i64,
}

/// The continue token, as kube-apiserver makes it: base64 of JSON with
/// the list's revision and the key the next page starts at, relative to
/// the list's prefix.
#[derive(Serialize, Deserialize)]
struct Continue {
    #[serde(rename = "v")]
    version: String,
    #[serde(rename = "rv")]
    revision: i64,
    start: String,
}

const CONTINUE_VERSION: &str = "meta.k8s.io/v1";

fn encode_continue(revision: i64, start: &str) -> String {
    let token = Continue {
        version: CONTINUE_VERSION.into(),
        revision,
        start: start.into(),
    };
    let json = serde_json::to_vec(&token).expect("a token serializes");
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

fn decode_continue(token: &str) -> Result<(i64, String), StoreError> {
    let invalid = || StoreError::BadContinue("continue key is not valid".into());
    let json = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| invalid())?;
    let token: Continue = serde_json::from_slice(&json).map_err(|_| invalid())?;
    if token.version != CONTINUE_VERSION
        || token.revision <= 0
        || token.start.contains("..")
        || token.start.starts_with('/')
    {
        return Err(invalid());
    }
    Ok((token.revision, token.start))
}

/// The resourceVersion an object carries (0: none).
fn resource_version_of(object: &Value) -> Result<i64, ObjectError> {
    match object.pointer("/metadata/resourceVersion") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(rv)) if rv.is_empty() => Ok(0),
        Some(Value::String(rv)) => rv
            .parse::<i64>()
            .ok()
            .filter(|rv| *rv > 0)
            .ok_or_else(|| ObjectError::Decode(format!("invalid resourceVersion {rv:?}"))),
        Some(other) => Err(ObjectError::Decode(format!(
            "metadata.resourceVersion must be a string, not {other}"
        ))),
    }
}

/// A new object's uid and creation time.
fn stamp() -> (String, String) {
    (uuid::Uuid::new_v4().to_string(), now_seconds())
}

/// The time now as Kubernetes writes it (RFC 3339, whole seconds).
fn now_seconds() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The letters of a generated name's suffix: no vowels (no words), no
/// look-alikes (apimachinery's `util/rand` alphanumerics).
const NAME_SUFFIX_LETTERS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Names an object that has only a `generateName`, as kube-apiserver's
/// names generator does: the prefix (cut to 58 characters) and five
/// random letters.
fn generate_name(object: &mut Value) {
    let prefix = match object
        .pointer("/metadata/generateName")
        .and_then(Value::as_str)
    {
        Some(prefix) if !prefix.is_empty() && name_of(object).is_empty() => prefix.to_owned(),
        _ => return,
    };
    let random = uuid::Uuid::new_v4();
    let suffix: String = random.as_bytes()[..5]
        .iter()
        .map(|byte| char::from(NAME_SUFFIX_LETTERS[usize::from(*byte) % NAME_SUFFIX_LETTERS.len()]))
        .collect();
    let prefix: String = prefix.chars().take(58).collect();
    object["metadata"]["name"] = format!("{prefix}{suffix}").into();
}

/// A store of objects in keel.
#[derive(Clone)]
pub struct Store {
    client: Client,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// A store over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The keel client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn not_found(resource: &ResourceInfo, name: &str) -> StoreError {
        StoreError::NotFound {
            resource: resource.qualified(),
            name: name.into(),
        }
    }

    fn conflict(resource: &ResourceInfo, name: &str) -> StoreError {
        StoreError::Conflict {
            resource: resource.qualified(),
            name: name.into(),
        }
    }

    /// The object `name` (in `namespace`, for a namespaced kind) and its
    /// key's mod_revision, or `None`.
    async fn read(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Option<(Value, i64)>, StoreError> {
        let answer = self.client.get(resource.key(namespace, name), None).await?;
        match answer.kvs.first() {
            None => Ok(None),
            Some(kv) => Ok(Some((
                object::from_stored(&kv.value, kv.mod_revision)?,
                kv.mod_revision,
            ))),
        }
    }

    /// The object `name`.
    pub async fn get(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Value, StoreError> {
        self.read(resource, namespace, name)
            .await?
            .map(|(object, _)| object)
            .ok_or_else(|| Self::not_found(resource, name))
    }

    /// The object `name`, as k8s-openapi's type `K`.
    pub async fn get_as<K: serde::de::DeserializeOwned>(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<K, StoreError> {
        let object = self.get(resource, namespace, name).await?;
        serde_json::from_value(object)
            .map_err(|error| StoreError::Object(ObjectError::Decode(error.to_string())))
    }

    /// The objects of `resource` in `namespace` (every namespace if empty),
    /// at one revision, a page at a time.
    pub async fn list(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        options: &ListOptions,
    ) -> Result<List, StoreError> {
        let prefix = resource.prefix(namespace);
        let (revision, start) = match &options.continue_token {
            Some(token) => {
                let (revision, start) = decode_continue(token)?;
                (revision, format!("{prefix}{start}"))
            }
            None => (options.revision, prefix.clone()),
        };
        let end = keel_client::prefix_end(prefix.as_bytes());
        let mut get = GetOptions::new().with_range(end);
        if revision > 0 {
            get = get.with_revision(revision);
        }
        if options.limit > 0 {
            get = get.with_limit(options.limit);
        }
        let answer = match self.client.get(start.as_bytes(), Some(get)).await {
            Err(error) if error.etcd() == Some(keel_client::EtcdError::Compacted) => {
                return Err(StoreError::Gone {
                    requested: revision,
                    compacted: 0,
                });
            }
            answer => answer?,
        };
        let read_at = if revision > 0 {
            revision
        } else {
            answer.header.as_ref().map_or(0, |h| h.revision)
        };
        let mut items = Vec::with_capacity(answer.kvs.len());
        for kv in &answer.kvs {
            items.push(object::from_stored(&kv.value, kv.mod_revision)?);
        }
        let continue_token = match answer.kvs.last() {
            Some(last) if answer.more => {
                let last = String::from_utf8_lossy(&last.key);
                let next = format!("{}\0", &last[prefix.len()..]);
                Some(encode_continue(read_at, &next))
            }
            _ => None,
        };
        Ok(List {
            items,
            resource_version: read_at,
            continue_token,
        })
    }

    /// Creates `object` (defaulted, with a new uid and creation time) in
    /// `namespace`; answers it as stored, with its resourceVersion.
    pub async fn create(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, StoreError> {
        if resource_version_of(&object)? != 0 {
            return Err(ObjectError::Decode(
                "resourceVersion should not be set on objects to be created".into(),
            )
            .into());
        }
        object::apply_defaults(resource, &mut object)?;
        generate_name(&mut object);
        in_namespace(resource, namespace, &mut object);
        let (uid, now) = stamp();
        object::prepare_for_create(resource, &mut object, &uid, &now);
        let name = name_of(&object).to_owned();
        invalid_unless_empty(
            resource,
            &name,
            &validation::validate_create(resource, &object),
        )?;
        let key = resource.key(namespace, &name);
        let ask = if is_service(resource) {
            service_ips::request(&object)
                .map_err(|error| cluster_ip_invalid(resource, &name, &object, &error.to_string()))?
        } else {
            service_ips::Request::None
        };
        for _ in 0..UPDATE_ATTEMPTS_MAX {
            let ip = match ask {
                service_ips::Request::None => None,
                service_ips::Request::Exactly(ip) => Some(ip),
                service_ips::Request::Any => {
                    let random = uuid::Uuid::new_v4().as_u128() as u32;
                    Some(service_ips::candidate(random))
                }
            };
            let mut compares = vec![Compare::mod_revision(key.as_str(), CompareOp::Equal, 0)];
            let mut puts = Vec::new();
            if let Some(ip) = ip {
                service_ips::assign(&mut object, ip);
                let record = service_ips::record(ip, namespace, &name, &uid, &now);
                let ip_key = service_ips::key(ip);
                compares.push(Compare::mod_revision(ip_key.as_str(), CompareOp::Equal, 0));
                puts.push(TxnOp::put(
                    ip_key.as_str(),
                    serde_json::to_vec(&record).expect("a JSON value serializes"),
                    None,
                ));
            }
            puts.insert(
                0,
                TxnOp::put(key.as_str(), object::to_stored(&object), None),
            );
            let txn = Txn::new()
                .when(compares)
                .and_then(puts)
                .or_else([TxnOp::get(key.as_str(), None)]);
            let answer = self.client.txn(txn).await?;
            if answer.succeeded {
                let revision = answer.header.as_ref().map_or(0, |h| h.revision);
                set_resource_version(&mut object, revision);
                return Ok(object);
            }
            let exists = answer.responses.iter().any(|op| match &op.response {
                Some(OpResponse::ResponseRange(range)) => !range.kvs.is_empty(),
                _ => false,
            });
            if exists {
                return Err(StoreError::AlreadyExists {
                    resource: resource.qualified(),
                    name,
                });
            }
            if let service_ips::Request::Exactly(ip) = ask {
                return Err(cluster_ip_invalid(
                    resource,
                    &name,
                    &object,
                    &format!("failed to allocate IP {ip}: provided IP is already allocated"),
                ));
            }
            // The address was taken: try another.
        }
        Err(cluster_ip_invalid(
            resource,
            &name,
            &object,
            "failed to allocate a serviceIP: range is full",
        ))
    }

    /// Replaces the object of `object`'s name. With a resourceVersion, only
    /// if the object is still at it (else Conflict); without one,
    /// whatever it is at. Its status is kept (see [`Store::update_status`]).
    pub async fn update(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        object: Value,
    ) -> Result<Value, StoreError> {
        self.replace(resource, namespace, Part::Main, object).await
    }

    /// Replaces the status of the object of `object`'s name, as a write to
    /// its `/status` subresource: only the status is taken from `object`.
    /// With a resourceVersion, only if the object is still at it.
    pub async fn update_status(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        object: Value,
    ) -> Result<Value, StoreError> {
        self.replace(resource, namespace, Part::Status, object)
            .await
    }

    async fn replace(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        part: Part,
        object: Value,
    ) -> Result<Value, StoreError> {
        let expected = resource_version_of(&object)?;
        let name = name_of(&object).to_owned();
        // A race lost after a read at the expected revision shows as a new
        // revision on the next read: Conflict, as the caller asked.
        self.update_part_with(resource, namespace, &name, part, |_, revision| {
            if expected != 0 && expected != revision {
                return Err(Self::conflict(resource, &name));
            }
            Ok(object.clone())
        })
        .await
    }

    /// Reads the object `name`, lets `change` make its replacement from it
    /// (and the revision it was read at), and writes that if the object did
    /// not change meanwhile; reads again when it did, up to
    /// [`UPDATE_ATTEMPTS_MAX`] times. `change` may fail to stop. The
    /// status is kept as it was.
    pub async fn update_with<F, E>(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
        change: F,
    ) -> Result<Value, E>
    where
        F: FnMut(&Value, i64) -> Result<Value, E>,
        E: From<StoreError>,
    {
        self.update_part_with(resource, namespace, name, Part::Main, change)
            .await
    }

    /// Patches the object `name` (its status kept) with `body`, a patch of
    /// `patch_type`, as kube-apiserver applies patches: read, patch,
    /// write if unchanged meanwhile (else again).
    pub async fn patch(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
        patch_type: keel_api::patch::PatchType,
        body: &[u8],
    ) -> Result<Value, StoreError> {
        self.update_with(resource, namespace, name, |current, _| {
            Ok(keel_api::patch::apply(resource, current, patch_type, body)?)
        })
        .await
    }

    /// [`Store::update_with`] for `part` of the object: its status (as
    /// its `/status` subresource), the whole of it (what the registry
    /// itself writes at once, such as a pod's binding: its node and its
    /// PodScheduled condition), or a namespace's `spec.finalizers` (its
    /// `/finalize`: a Terminating namespace left without them is deleted).
    pub async fn update_part_with<F, E>(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
        part: Part,
        change: F,
    ) -> Result<Value, E>
    where
        F: FnMut(&Value, i64) -> Result<Value, E>,
        E: From<StoreError>,
    {
        self.update_part_from(resource, namespace, name, part, None, change)
            .await
    }

    /// [`Store::update_part_with`], its first attempt made on `seen` (a
    /// copy of the object the caller holds, at its resourceVersion)
    /// instead of a read: one round trip when the copy is current, the
    /// usual read and retry when it is not.
    async fn update_part_from<F, E>(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
        part: Part,
        mut seen: Option<(Value, i64)>,
        mut change: F,
    ) -> Result<Value, E>
    where
        F: FnMut(&Value, i64) -> Result<Value, E>,
        E: From<StoreError>,
    {
        for attempt in 0..UPDATE_ATTEMPTS_MAX {
            if attempt > 0 {
                pause_after_lost_race(attempt).await;
            }
            let (current, revision) = match seen.take() {
                Some(copy) => copy,
                None => self
                    .read(resource, namespace, name)
                    .await?
                    .ok_or_else(|| Self::not_found(resource, name))?,
            };
            let mut new = change(&current, revision)?;
            in_namespace(resource, namespace, &mut new);
            if name_of(&new) != name {
                return Err(StoreError::from(ObjectError::Decode(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    name_of(&new)
                )))
                .into());
            }
            match part {
                Part::Main | Part::Whole => {
                    let status = new.get("status").cloned();
                    object::apply_defaults(resource, &mut new).map_err(StoreError::from)?;
                    object::prepare_for_update(resource, &current, &mut new);
                    if let (Part::Whole, Some(status)) = (part, status) {
                        new["status"] = status;
                    }
                    // The registry's own writes (a binding) are not a
                    // client's update: kube-apiserver writes them to
                    // storage without the update's validation, which
                    // would refuse a pod's new node.
                    if part == Part::Main {
                        let causes = validation::validate_update(resource, &current, &new);
                        invalid_unless_empty(resource, name, &causes)?;
                    }
                }
                Part::Status => object::prepare_for_status_update(&current, &mut new),
                Part::Finalize => {
                    let finalizers = new.pointer("/spec/finalizers").cloned();
                    new = current.clone();
                    new["spec"]["finalizers"] = finalizers.unwrap_or(Value::Null);
                }
            }
            if new == current {
                // Nothing changed: kube-apiserver writes nothing either.
                return Ok(current);
            }
            let key = resource.key(namespace, name);
            if deletion::finished(resource, &new) {
                // The last finalizer of a deleting object is gone: the
                // update deletes it, as kube-apiserver's does.
                if self.remove(resource, &key, revision, &new).await? {
                    return Ok(new);
                }
                continue;
            }
            if let Some(written) = self.write(&key, revision, &new).await? {
                set_resource_version(&mut new, written);
                return Ok(new);
            }
        }
        Err(Self::conflict(resource, name).into())
    }

    /// Binds the pod `name` to `node`, as its `pods/binding` subresource
    /// does: once, not while it is being deleted, and only the pod of
    /// `uid` when one is given (see keel-api's `binding`). Of two binds
    /// racing, the second reads the first's node and fails.
    pub async fn bind(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        uid: Option<&str>,
    ) -> Result<Value, StoreError> {
        let pods = keel_api::resources::of::<keel_api::k8s_openapi::api::core::v1::Pod>();
        let now = now_seconds();
        self.update_part_with(pods, namespace, name, Part::Whole, |pod, _| {
            keel_api::binding::assign(pod, node, uid, &now).map_err(|error| StoreError::Bind {
                name: name.to_owned(),
                error,
            })
        })
        .await
    }

    /// [`Store::bind`] of `seen`, the caller's copy of the pod (from an
    /// informer's cache), for its uid: the compare-and-swap is tried at
    /// `seen`'s resourceVersion first, without reading the pod, and the pod
    /// is read only when it moved on since (a scheduler's binds take one
    /// round trip instead of two).
    pub async fn bind_seen(&self, seen: &Value, node: &str) -> Result<Value, StoreError> {
        let pods = keel_api::resources::of::<keel_api::k8s_openapi::api::core::v1::Pod>();
        let text = |pointer| seen.pointer(pointer).and_then(Value::as_str).unwrap_or("");
        let (namespace, name, uid) = (
            text("/metadata/namespace"),
            text("/metadata/name"),
            text("/metadata/uid"),
        );
        let revision = resource_version_of(seen)?;
        let now = now_seconds();
        let first = (revision > 0).then(|| (seen.clone(), revision));
        self.update_part_from(pods, namespace, name, Part::Whole, first, |pod, _| {
            keel_api::binding::assign(pod, node, Some(uid), &now).map_err(|error| {
                StoreError::Bind {
                    name: name.to_owned(),
                    error,
                }
            })
        })
        .await
    }

    /// Deletes the object `name`, only if it is at `resource_version` when
    /// one is given, at once (no grace period, finalizers kept as they
    /// are); answers the object as it was.
    pub async fn delete(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
        resource_version: Option<i64>,
    ) -> Result<Value, StoreError> {
        let done = self
            .delete_with(resource, namespace, name, |_, revision| {
                if resource_version.is_some_and(|rv| rv != revision) {
                    return Err(Self::conflict(resource, name));
                }
                Ok(Deletion::Now)
            })
            .await?;
        Ok(done.object)
    }

    /// Reads the object `name`, lets `plan` decide what its delete does
    /// (see keel-api's `deletion`), and does it if the object did not
    /// change meanwhile; reads again when it did, up to
    /// [`UPDATE_ATTEMPTS_MAX`] times.
    pub async fn delete_with<F>(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
        mut plan: F,
    ) -> Result<Deleted, StoreError>
    where
        F: FnMut(&Value, i64) -> Result<Deletion, StoreError>,
    {
        let key = resource.key(namespace, name);
        for _ in 0..UPDATE_ATTEMPTS_MAX {
            let (current, revision) = self
                .read(resource, namespace, name)
                .await?
                .ok_or_else(|| Self::not_found(resource, name))?;
            match plan(&current, revision)? {
                Deletion::Now => {
                    if self.remove(resource, &key, revision, &current).await? {
                        return Ok(Deleted {
                            object: current,
                            gone: true,
                        });
                    }
                }
                Deletion::Mark(marked) if marked == current => {
                    return Ok(Deleted {
                        object: current,
                        gone: false,
                    });
                }
                Deletion::Mark(mut marked) => {
                    if let Some(written) = self.write(&key, revision, &marked).await? {
                        set_resource_version(&mut marked, written);
                        return Ok(Deleted {
                            object: marked,
                            gone: false,
                        });
                    }
                }
            }
        }
        Err(Self::conflict(resource, name))
    }

    /// Deletes the object `name` as its kind's registry does under
    /// `options` at `now` (keel-api's `deletion::plan`: at once, marked for
    /// a graceful delete, or held by finalizers), with the options'
    /// preconditions.
    pub async fn delete_as_planned(
        &self,
        resource: &ResourceInfo,
        namespace: &str,
        name: &str,
        options: &deletion::DeleteOptions,
        now: jiff::Timestamp,
    ) -> Result<Deleted, StoreError> {
        self.delete_with(resource, namespace, name, |current, revision| {
            Ok(deletion::plan(resource, current, revision, options, now)?)
        })
        .await
    }

    /// Deletes `object`'s `key` if it is still at `revision`, with what
    /// the object holds besides itself (a Service's cluster IP).
    async fn remove(
        &self,
        resource: &ResourceInfo,
        key: &str,
        revision: i64,
        object: &Value,
    ) -> Result<bool, StoreError> {
        let mut deletes = vec![TxnOp::delete(key, None)];
        if let Some(ip) = is_service(resource)
            .then(|| service_ips::allocated(object))
            .flatten()
        {
            deletes.push(TxnOp::delete(service_ips::key(ip).as_str(), None));
        }
        let txn = at_revision(key, revision).and_then(deletes);
        Ok(self.client.txn(txn).await?.succeeded)
    }

    /// Writes `object` at `key` if the key is still at `revision`; answers
    /// the revision written, or `None` when the key moved on.
    async fn write(
        &self,
        key: &str,
        revision: i64,
        object: &Value,
    ) -> Result<Option<i64>, StoreError> {
        let txn =
            at_revision(key, revision).and_then([TxnOp::put(key, object::to_stored(object), None)]);
        let answer = self.client.txn(txn).await?;
        Ok(answer
            .succeeded
            .then(|| answer.header.as_ref().map_or(0, |h| h.revision)))
    }
}

/// Which part of an object an update writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything but the status (for kinds with a status subresource).
    Main,
    /// Only the status.
    Status,
    /// Only a namespace's `spec.finalizers` (its `/finalize` subresource).
    Finalize,
    /// Both, for the registry's own subresources (a pod's binding sets
    /// its node and its PodScheduled condition in one write), without
    /// the validation of a client's update.
    Whole,
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq)]
pub struct Deleted {
    /// The object: as it was when removed, or as marked when kept.
    pub object: Value,
    /// Whether it is gone (else it is marked for deletion, waiting for its
    /// grace period or finalizers).
    pub gone: bool,
}

/// What a watch of objects reports, as kube-apiserver's etcd watcher
/// turns keel's events into Kubernetes' (`ADDED`, `MODIFIED`, `DELETED`).
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectEvent {
    /// The object was created (its key's first version).
    Added(Value),
    /// The object changed; `previous` is what it was.
    Modified {
        /// The object as it is now.
        object: Value,
        /// The object before the change.
        previous: Value,
    },
    /// The object was deleted; it is the object as it was, with the
    /// deletion's revision as its resourceVersion.
    Deleted(Value),
    /// Every change up to `revision` has been reported.
    Progress {
        /// The revision the watch is current at.
        revision: i64,
    },
}

/// A watch of the objects of one resource (in one namespace, or all).
pub struct ObjectWatch {
    watcher: keel_client::Watcher,
    pending: std::collections::VecDeque<ObjectEvent>,
    requested: i64,
}

impl ObjectWatch {
    /// The next event; `None` when the watch ended. A watch from a
    /// compacted revision fails with [`StoreError::Gone`].
    pub async fn next(&mut self) -> Option<Result<ObjectEvent, StoreError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            let update = match self.watcher.next().await? {
                Ok(update) => update,
                Err(keel_client::Error::Compacted {
                    compact_revision, ..
                }) => {
                    return Some(Err(StoreError::Gone {
                        requested: self.requested,
                        compacted: compact_revision,
                    }))
                }
                Err(error) => return Some(Err(error.into())),
            };
            if update.is_progress() {
                return Some(Ok(ObjectEvent::Progress {
                    revision: update.revision,
                }));
            }
            for event in update.events {
                match object_event(event) {
                    Ok(event) => self.pending.push_back(event),
                    Err(error) => return Some(Err(error.into())),
                }
            }
        }
    }

    /// Asks keel for a progress report, answered as
    /// [`ObjectEvent::Progress`].
    pub fn request_progress(&self) {
        self.watcher.request_progress();
    }
}

/// One of keel's events as an object event.
fn object_event(event: keel_client::proto::mvccpb::Event) -> Result<ObjectEvent, ObjectError> {
    use keel_client::proto::mvccpb::event::EventType;
    let deleted = event.r#type() == EventType::Delete;
    let kv = event.kv.unwrap_or_default();
    let previous = event
        .prev_kv
        .map(|prev| object::from_stored(&prev.value, prev.mod_revision))
        .transpose()?;
    if deleted {
        let mut gone = previous.ok_or_else(|| {
            ObjectError::Decode("a delete event without the object it deleted".into())
        })?;
        set_resource_version(&mut gone, kv.mod_revision);
        return Ok(ObjectEvent::Deleted(gone));
    }
    let object = object::from_stored(&kv.value, kv.mod_revision)?;
    Ok(match previous {
        Some(previous) if kv.create_revision != kv.mod_revision => {
            ObjectEvent::Modified { object, previous }
        }
        _ => ObjectEvent::Added(object),
    })
}

impl Store {
    /// Watches the objects of `resource` in `namespace` (every namespace if
    /// empty) from the revision after `after`. Call it within a Tokio
    /// runtime.
    pub fn watch(&self, resource: &ResourceInfo, namespace: &str, after: i64) -> ObjectWatch {
        let options = WatchOptions::new()
            .with_prefix()
            .with_prev_key()
            .with_progress_notify()
            .with_start_revision(after + 1);
        ObjectWatch {
            watcher: self.client.watch(resource.prefix(namespace), Some(options)),
            pending: std::collections::VecDeque::new(),
            requested: after,
        }
    }
}

/// Puts an object of a namespaced kind that names no namespace in
/// `namespace` (the one its key is under).
fn in_namespace(resource: &ResourceInfo, namespace: &str, object: &mut Value) {
    let unnamed = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if resource.namespaced && unnamed && object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"]["namespace"] = namespace.into();
    }
}

/// Whether `resource` is the core group's Services.
fn is_service(resource: &ResourceInfo) -> bool {
    (resource.group, resource.plural) == ("", "services")
}

/// Invalid for a cluster IP that cannot be given, as kube-apiserver's
/// allocator answers (`spec.clusterIPs: Invalid value: []string{...}`).
fn cluster_ip_invalid(
    resource: &ResourceInfo,
    name: &str,
    service: &Value,
    detail: &str,
) -> StoreError {
    let asked = service
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .filter(|ips| !ips.is_empty())
        .map_or_else(
            || {
                let ip = service
                    .pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                vec![format!("{ip:?}")]
            },
            |ips| {
                ips.iter()
                    .map(|ip| format!("{:?}", ip.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
            },
        );
    let cause = validation::Cause {
        field: "spec.clusterIPs".into(),
        kind: validation::CauseType::FieldValueInvalid,
        message: format!("Invalid value: []string{{{}}}: {detail}", asked.join(", ")),
    };
    StoreError::Invalid {
        message: validation::invalid_message(resource, name, std::slice::from_ref(&cause)),
        details: validation::invalid_details(resource, name, std::slice::from_ref(&cause)),
    }
}

/// Invalid, with kube-apiserver's message and details, when `causes` has
/// any.
fn invalid_unless_empty(
    resource: &ResourceInfo,
    name: &str,
    causes: &[validation::Cause],
) -> Result<(), StoreError> {
    if causes.is_empty() {
        return Ok(());
    }
    Err(StoreError::Invalid {
        message: validation::invalid_message(resource, name, causes),
        details: validation::invalid_details(resource, name, causes),
    })
}

/// A transaction that runs only while `key` is at `revision` (0: while it
/// does not exist).
fn at_revision(key: &str, revision: i64) -> Txn {
    Txn::new().when([Compare::mod_revision(key, CompareOp::Equal, revision)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continue_token_round_trips_and_a_forged_one_is_refused() {
        let token = encode_continue(42, "default/web-7\0");
        assert_eq!(
            decode_continue(&token).expect("ours"),
            (42, "default/web-7\0".to_owned())
        );
        for forged in [
            "",
            "%%%",
            &encode_continue(0, "a"),
            &encode_continue(3, "../x"),
        ] {
            assert!(decode_continue(forged).is_err(), "{forged}");
        }
    }

    #[test]
    fn resource_versions_are_positive_decimal_strings() {
        let with = |rv: Value| serde_json::json!({"metadata": {"resourceVersion": rv}});
        assert_eq!(resource_version_of(&with("17".into())).expect("valid"), 17);
        assert_eq!(resource_version_of(&with("".into())).expect("none"), 0);
        assert_eq!(
            resource_version_of(&serde_json::json!({})).expect("none"),
            0
        );
        for bad in [with("abc".into()), with("-3".into()), with(5.into())] {
            assert!(resource_version_of(&bad).is_err(), "{bad}");
        }
    }
}
