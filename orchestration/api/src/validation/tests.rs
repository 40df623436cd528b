//! Table tests of the rules, each case with Kubernetes' own field path and
//! message.
