//! Which pod the kubelet evicts when the node runs short of memory (the
//! eviction manager's ranking for `memory.available`): pods using more
//! than they requested go first, BestEffort ones (which request nothing)
//! before the others, then by how far their usage exceeds their request.

/// A running pod as the eviction ranking sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its worker's key.
    pub key: String,
    /// Its QoS class (`BestEffort`, `Burstable`, `Guaranteed`).
    pub qos_class: String,
    /// Memory its containers use now, in bytes.
    pub usage_bytes: u64,
    /// Memory its containers request, in bytes.
    pub request_bytes: u64,
}

impl Candidate {
    fn exceeds_request(&self) -> bool {
        self.usage_bytes > self.request_bytes
    }

    fn qos_rank(&self) -> u8 {
        match self.qos_class.as_str() {
            "BestEffort" => 0,
            "Burstable" => 1,
            _ => 2,
        }
    }
}

/// The pod to evict first, if any.
pub fn victim(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates.iter().min_by(|a, b| {
        (!a.exceeds_request(), a.qos_rank())
            .cmp(&(!b.exceeds_request(), b.qos_rank()))
            .then_with(|| {
                let over = |c: &Candidate| c.usage_bytes.saturating_sub(c.request_bytes);
                over(b).cmp(&over(a))
            })
            .then_with(|| a.key.cmp(&b.key))
    })
}

/// The message an evicted pod's status carries (the kubelet's words).
pub fn message(threshold_bytes: u64, available_bytes: u64) -> String {
    format!(
        "The node was low on resource: memory. Threshold quantity: {}Ki, available: {}Ki. ",
        threshold_bytes / 1024,
        available_bytes / 1024
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(key: &str, qos: &str, usage: u64, request: u64) -> Candidate {
        Candidate {
            key: key.into(),
            qos_class: qos.into(),
            usage_bytes: usage,
            request_bytes: request,
        }
    }

    #[test]
    fn best_effort_goes_first_then_the_most_over_its_request() {
        let pods = [
            pod("guaranteed", "Guaranteed", 500, 500),
            pod("burstable-big", "Burstable", 900, 100),
            pod("best-small", "BestEffort", 10, 0),
            pod("best-big", "BestEffort", 50, 0),
        ];
        assert_eq!(victim(&pods).unwrap().key, "best-big");
        assert_eq!(victim(&pods[..2]).unwrap().key, "burstable-big");
        // Within its request, even a Burstable pod waits behind one over it.
        let within = [
            pod("burstable", "Burstable", 50, 100),
            pod("guaranteed", "Guaranteed", 600, 500),
        ];
        assert_eq!(victim(&within).unwrap().key, "guaranteed");
        assert!(victim(&[]).is_none());
        assert!(message(100 << 20, 50 << 20)
            .starts_with("The node was low on resource: memory. Threshold quantity: 102400Ki"));
    }
}
