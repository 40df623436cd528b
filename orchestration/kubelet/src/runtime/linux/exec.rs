//! `exec <state dir> [--tty] -- argv...`: a command inside a running
//! container. The helper opens the container's namespaces from
//! `/proc/<pid>/ns` and its root from `/proc/<pid>/root` first, joins its
//! cgroups (while the host's `/sys/fs/cgroup` is still in reach), enters
//! the ipc, uts, net, pid and mount namespaces in that order (the pid one
//! holds for children only, the mount one last as it changes what paths
//! mean), chroots into the container's root through the opened
//! directory, moves to the working directory, cuts its capability
//! bounding set as pid 1's was (see `capabilities.rs`), then runs argv as
//! its child
//! (so in the container's pid namespace) with the spec's environment, and
//! exits with its status (128 + the signal if it was killed).
//!
//! With `--tty` the helper makes its stdin (the caller's terminal) its
//! controlling terminal in a new session, so argv is in its foreground.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::sched::{setns, CloneFlags};

use super::files::ContainerDir;
use super::helper::{exit_code, path_of, resolve_program, Context};
use super::{capabilities, cgroups};

/// The namespaces entered, in order.
const NAMESPACES: [(&str, CloneFlags); 5] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];
/// The exit code when argv could not be run at all (as a shell's).
const EXIT_NOT_RUN: i32 = 127;

/// Runs argv in the container whose state directory is `dir`.
pub(super) fn main(dir: &Path, tty: bool, argv: &[String]) -> i32 {
    match run(&ContainerDir::new(dir.to_path_buf()), tty, argv) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            EXIT_NOT_RUN
        }
    }
}

fn run(dir: &ContainerDir, tty: bool, argv: &[String]) -> Result<i32, String> {
    let spec = dir.read_spec().context(|| "reading spec.json".to_owned())?;
    let launch = dir
        .read_launch()
        .context(|| "reading launch.json".to_owned())?;
    let started = dir
        .read_started()
        .context(|| "reading state.json".to_owned())?;
    let exited = dir.read_exit().context(|| "reading exit.json".to_owned())?;
    let (Some(started), None) = (started, exited) else {
        return Err(format!("container {} is not running", spec.id));
    };
    let proc = Path::new("/proc").join(started.pid.to_string());
    let mut namespaces = Vec::with_capacity(NAMESPACES.len());
    for (name, flag) in NAMESPACES {
        let path = proc.join("ns").join(name);
        namespaces.push((
            File::open(&path).context(|| format!("opening {}", path.display()))?,
            flag,
        ));
    }
    let root =
        File::open(proc.join("root")).context(|| format!("opening {}/root", proc.display()))?;
    cgroups::join(&launch.cgroups, std::process::id())
        .context(|| "joining the cgroups".to_owned())?;
    for (file, flag) in &namespaces {
        setns(file, *flag).context(|| format!("entering the namespace {flag:?}"))?;
    }
    nix::unistd::fchdir(&root).context(|| "entering the container's root".to_owned())?;
    nix::unistd::chroot(".").context(|| "chroot into the container's root".to_owned())?;
    let working_dir = if spec.working_dir.is_empty() {
        "/"
    } else {
        spec.working_dir.as_str()
    };
    if nix::unistd::chdir(working_dir).is_err() {
        nix::unistd::chdir("/").context(|| "chdir /".to_owned())?;
    }
    if tty {
        // Best effort: without it argv runs, only without job control.
        let _ = nix::unistd::setsid();
        let _ = rustix::process::ioctl_tiocsctty(std::io::stdin());
    }
    capabilities::restrict_bounding_set()?;
    let (name, args) = argv.split_first().ok_or("exec: no command")?;
    let program = resolve_program(name, path_of(&spec.env))?;
    let status = Command::new(&program)
        .arg0(name)
        .args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .status()
        .map_err(|error| format!("exec: \"{name}\": {error}"))?;
    Ok(exit_code(status).0)
}
