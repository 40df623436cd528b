//! The default container runtime: Linux namespaces, cgroups and chroot,
//! root only, no daemon.
//!
//! ```text
//!   kubelet ──spawn──► keel container-init monitor <state dir>   (one per container;
//!                        │ joins the cgroups, unshares pid/mnt/uts/ipc,   survives the
//!                        │ joins the pod's netns, mounts the rootfs,       kubelet)
//!                        │ writes state.json, copies output to the log
//!                        └─spawn──► keel container-init start ... (pid 1 of the
//!                                     container: mounts /proc, chroots, execs argv)
//! ```

pub mod helper;
