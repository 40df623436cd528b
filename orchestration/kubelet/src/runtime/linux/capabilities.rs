//! The capabilities a container's processes may have: the bounding set
//! is cut to the default set of Docker and containerd, so that root in a
//! container cannot mount, load modules, change the clock or trace the
//! host's processes. A process running as uid 0 gets, at exec, exactly
//! its bounding set; the set is inherited by every child.

use rustix::thread::{remove_capability_from_bounding_set, CapabilitySet};

/// The capabilities kept (containerd's `DefaultCapabilities`; the
/// bounding set `00000000a80425fb` of `/proc/<pid>/status`).
pub const KEPT: CapabilitySet = CapabilitySet::CHOWN
    .union(CapabilitySet::DAC_OVERRIDE)
    .union(CapabilitySet::FSETID)
    .union(CapabilitySet::FOWNER)
    .union(CapabilitySet::MKNOD)
    .union(CapabilitySet::NET_RAW)
    .union(CapabilitySet::SETGID)
    .union(CapabilitySet::SETUID)
    .union(CapabilitySet::SETFCAP)
    .union(CapabilitySet::SETPCAP)
    .union(CapabilitySet::NET_BIND_SERVICE)
    .union(CapabilitySet::SYS_CHROOT)
    .union(CapabilitySet::KILL)
    .union(CapabilitySet::AUDIT_WRITE);

/// Drops every capability but [`KEPT`] from the calling process's
/// bounding set (and so from whatever it executes).
pub fn restrict_bounding_set() -> Result<(), String> {
    for capability in CapabilitySet::all().difference(KEPT).iter() {
        match remove_capability_from_bounding_set(capability) {
            // A capability this kernel does not know: nothing to drop.
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(error) => {
                return Err(format!(
                    "dropping {capability:?} from the bounding set: {error}"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_set_is_docker_s_default() {
        assert_eq!(KEPT.bits(), 0xa804_25fb);
    }
}
