//! The selecting parts of pods and nodes, read once from their JSON into
//! forms the filters and scores evaluate cheaply: node selector terms,
//! taints and tolerations, pod (anti-)affinity terms.
//!
//! ```text
//!   pod.spec.affinity.nodeAffinity.required...nodeSelectorTerms ─► NodeSelector (terms ORed)
//!   pod.spec.affinity.nodeAffinity.preferred...                 ─► Vec<PreferredTerm>
//!   pod.spec.tolerations / node.spec.taints                     ─► Toleration / Taint
//!   pod.spec.affinity.podAntiAffinity.required...               ─► Vec<AffinityTerm>
//! ```
//!
//! Terms Kubernetes cannot parse (an unknown operator, `Gt` without one
//! integer) are dropped, as `component-helpers/scheduling/corev1/nodeaffinity`
//! drops them: such a term matches no node.

use std::collections::BTreeMap;

use keel_api::selector::{LabelSelector, Operator, Requirement};
use serde_json::Value;

/// The label every kubelet sets to its node's hostname; the only topology
/// the pod anti-affinity filter and the spreading score consider.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// A node's labels, as they are matched.
pub type Labels = BTreeMap<String, String>;

/// One requirement on the node's `metadata.name` (`matchFields`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRequirement {
    /// `metadata.name In [name]`.
    NameIs(String),
    /// `metadata.name NotIn [name]`.
    NameIsNot(String),
}

/// One `nodeSelectorTerm`: its label expressions and its field
/// expressions, all of which must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    /// `matchExpressions`, ANDed.
    pub labels: LabelSelector,
    /// `matchFields`, ANDed.
    pub fields: Vec<FieldRequirement>,
}

impl NodeSelectorTerm {
    /// Reads a term; `None` when Kubernetes would drop it (a parse error,
    /// or no requirement at all: an empty term selects no node).
    pub fn from_json(term: &Value) -> Option<Self> {
        let mut requirements = Vec::new();
        for expression in array(term.get("matchExpressions")) {
            requirements.push(label_requirement(expression)?);
        }
        let mut fields = Vec::new();
        for expression in array(term.get("matchFields")) {
            fields.push(field_requirement(expression)?);
        }
        if requirements.is_empty() && fields.is_empty() {
            return None;
        }
        Some(Self {
            labels: LabelSelector { requirements },
            fields,
        })
    }

    /// Whether the node (its name and labels) satisfies the term.
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.fields.iter().all(|field| match field {
            FieldRequirement::NameIs(name) => name == node_name,
            FieldRequirement::NameIsNot(name) => name != node_name,
        }) && self.labels.matches(labels)
    }
}

fn array(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    array(value)
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A `NodeSelectorRequirement` on labels, checked as `labels.NewRequirement`
/// checks it (value counts, integers for Gt/Lt).
fn label_requirement(expression: &Value) -> Option<Requirement> {
    let key = expression.get("key").and_then(Value::as_str)?.to_owned();
    let values = strings(expression.get("values"));
    let single_integer = || match values.as_slice() {
        [one] => one.parse::<i64>().ok(),
        _ => None,
    };
    let operator = match expression.get("operator").and_then(Value::as_str)? {
        "In" if !values.is_empty() => Operator::In(values),
        "NotIn" if !values.is_empty() => Operator::NotIn(values),
        "Exists" if values.is_empty() => Operator::Exists,
        "DoesNotExist" if values.is_empty() => Operator::DoesNotExist,
        "Gt" => Operator::GreaterThan(single_integer()?),
        "Lt" => Operator::LessThan(single_integer()?),
        _ => return None,
    };
    Some(Requirement { key, operator })
}

/// A `NodeSelectorRequirement` on fields: only `metadata.name`, In or
/// NotIn, exactly one value.
fn field_requirement(expression: &Value) -> Option<FieldRequirement> {
    if expression.get("key").and_then(Value::as_str) != Some("metadata.name") {
        return None;
    }
    let [name] = <[String; 1]>::try_from(strings(expression.get("values"))).ok()?;
    match expression.get("operator").and_then(Value::as_str)? {
        "In" => Some(FieldRequirement::NameIs(name)),
        "NotIn" => Some(FieldRequirement::NameIsNot(name)),
        _ => None,
    }
}

/// The required node affinity: the terms that parsed, ORed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSelector {
    /// The terms; no term selects no node.
    pub terms: Vec<NodeSelectorTerm>,
}

impl NodeSelector {
    /// Reads `requiredDuringSchedulingIgnoredDuringExecution`.
    pub fn from_json(selector: &Value) -> Self {
        Self {
            terms: array(selector.get("nodeSelectorTerms"))
                .filter_map(NodeSelectorTerm::from_json)
                .collect(),
        }
    }

    /// Whether any term selects the node.
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.terms.iter().any(|t| t.matches(node_name, labels))
    }
}

/// One `preferredDuringSchedulingIgnoredDuringExecution` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferredTerm {
    /// Added to a node's raw score when the term selects it (1-100).
    pub weight: i64,
    /// The term.
    pub term: NodeSelectorTerm,
}

impl PreferredTerm {
    /// Reads one entry; `None` for a zero weight or a dropped term
    /// (`nodeaffinity.NewPreferredSchedulingTerms` skips those).
    pub fn from_json(entry: &Value) -> Option<Self> {
        let weight = entry.get("weight").and_then(Value::as_i64)?;
        if weight == 0 {
            return None;
        }
        let term = NodeSelectorTerm::from_json(entry.get("preference")?)?;
        Some(Self { weight, term })
    }
}

/// A node's taint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// Its key.
    pub key: String,
    /// Its value (may be empty).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

impl Taint {
    /// Reads one entry of `node.spec.taints`.
    pub fn from_json(taint: &Value) -> Self {
        let text = |name: &str| {
            taint
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        Self {
            key: text("key"),
            value: text("value"),
            effect: text("effect"),
        }
    }

    /// Whether the filter considers it (`NoSchedule` and `NoExecute`).
    pub fn forbids_scheduling(&self) -> bool {
        self.effect == "NoSchedule" || self.effect == "NoExecute"
    }
}

/// How a toleration compares values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TolerationOperator {
    /// `Equal` (also the empty operator): the values must be equal.
    Equal,
    /// `Exists`: any value.
    Exists,
    /// Anything else: tolerates nothing.
    Unknown,
}

/// A pod's toleration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    /// The taint key; empty matches every key.
    pub key: String,
    /// How values compare.
    pub operator: TolerationOperator,
    /// The value for `Equal`.
    pub value: String,
    /// The effect; empty matches every effect.
    pub effect: String,
}

impl Toleration {
    /// Reads one entry of `pod.spec.tolerations`.
    pub fn from_json(toleration: &Value) -> Self {
        let text = |name: &str| {
            toleration
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let operator = match text("operator").as_str() {
            "" | "Equal" => TolerationOperator::Equal,
            "Exists" => TolerationOperator::Exists,
            _ => TolerationOperator::Unknown,
        };
        Self {
            key: text("key"),
            operator,
            value: text("value"),
            effect: text("effect"),
        }
    }

    /// Whether it tolerates `taint`, as `Toleration.ToleratesTaint` decides
    /// (`staging/src/k8s.io/api/core/v1/toleration.go`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != taint.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Equal => self.value == taint.value,
            TolerationOperator::Exists => true,
            TolerationOperator::Unknown => false,
        }
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// One required pod (anti-)affinity term, with the namespaces it looks at
/// resolved against the pod that carries it.
///
/// Simplification: a `namespaceSelector` with requirements would need the
/// namespaces' labels, which the scheduler's model does not keep; such a
/// selector adds no namespace (only `namespaces` and the empty selector
/// `{}`, meaning all namespaces, count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityTerm {
    /// The pods the term is about; `None` (no `labelSelector`, or one that
    /// does not parse) selects no pod.
    pub selector: Option<LabelSelector>,
    /// The namespaces it looks in, when not all of them.
    pub namespaces: Vec<String>,
    /// Whether it looks in every namespace (`namespaceSelector: {}`).
    pub all_namespaces: bool,
    /// The node label whose values are the topology domains.
    pub topology_key: String,
}

impl AffinityTerm {
    /// Reads one `PodAffinityTerm` of a pod in `own_namespace`
    /// (`GetNamespacesFromPodAffinityTerm`: no namespaces and no selector
    /// means the pod's own namespace).
    pub fn from_json(term: &Value, own_namespace: &str) -> Self {
        let mut namespaces = strings(term.get("namespaces"));
        let namespace_selector = term.get("namespaceSelector").filter(|v| !v.is_null());
        let all_namespaces = namespace_selector.is_some_and(|s| {
            array(s.get("matchExpressions")).next().is_none()
                && s.get("matchLabels")
                    .and_then(Value::as_object)
                    .is_none_or(serde_json::Map::is_empty)
        });
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.push(own_namespace.to_owned());
        }
        Self {
            selector: term
                .get("labelSelector")
                .filter(|v| !v.is_null())
                .and_then(|s| LabelSelector::from_json(s).ok()),
            namespaces,
            all_namespaces,
            topology_key: term
                .get("topologyKey")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        }
    }

    /// Whether a pod in `namespace` with `labels` is one the term is about.
    pub fn selects(&self, namespace: &str, labels: &Labels) -> bool {
        (self.all_namespaces || self.namespaces.iter().any(|n| n == namespace))
            && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}
