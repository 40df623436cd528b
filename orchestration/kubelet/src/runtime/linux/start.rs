//! The start stage: pid 1 of the container's pid namespace, run by the
//! monitor once it has mounted the container's rootfs. It asks for
//! SIGKILL should the monitor die, joins the container's cgroups, takes a
//! mount namespace of its own (a copy of the monitor's, so the container's
//! mounts never reach the monitor), mounts `/proc` for the new pid
//! namespace, makes the rootfs its root with `pivot_root` (the host's
//! tree is then unmounted, so a chroot escape finds nothing), moves to the
//! working directory, cuts its capabilities to Docker's default set (see
//! `capabilities.rs`) and executes argv with the spec's environment as
//! the whole environment.
//!
//! Its stdin is the monitor's start pipe: it keeps that open,
//! close-on-exec, until argv is executed, and writes there why it could
//! not be (`exec: "foo": executable file not found in $PATH`). Argv's own
//! stdin is `/dev/null`.

use std::convert::Infallible;
use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::files::ContainerDir;
use super::helper::{path_of, resolve_program, Context};
use super::{capabilities, cgroups};

/// The exit code of a start stage that could not execute argv (a shell's
/// "command not found").
const EXIT_NOT_STARTED: i32 = 127;

/// Runs the start stage of the container whose state directory is `dir`.
pub(super) fn main(dir: &Path) -> i32 {
    // fd 0 is the start pipe: a close-on-exec copy of it reports errors.
    let sync = match rustix::io::fcntl_dupfd_cloexec(std::io::stdin(), 3) {
        Ok(fd) => File::from(fd),
        Err(error) => {
            eprintln!("keel container-init start: no start pipe: {error}");
            return EXIT_NOT_STARTED;
        }
    };
    let Err(message) = run(&ContainerDir::new(dir.to_path_buf()));
    let mut sync = sync;
    let _ = sync.write_all(message.as_bytes());
    EXIT_NOT_STARTED
}

fn run(dir: &ContainerDir) -> Result<Infallible, String> {
    // The container must not outlive its monitor: nobody would log its
    // output or tell how it ended. (The monitor waits on the start pipe
    // now, so it cannot have died before this.)
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context(|| "setting the parent-death signal".to_owned())?;
    let spec = dir.read_spec().context(|| "reading spec.json".to_owned())?;
    let launch = dir
        .read_launch()
        .context(|| "reading launch.json".to_owned())?;
    cgroups::join(&launch.cgroups, std::process::id())
        .context(|| "joining the cgroups".to_owned())?;
    unshare(CloneFlags::CLONE_NEWNS).context(|| "unsharing the mount namespace".to_owned())?;
    let rootfs = dir.rootfs();
    let proc = rootfs.join("proc");
    std::fs::create_dir_all(&proc).context(|| "creating /proc".to_owned())?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), &proc, Some("proc"), flags, None::<&str>)
        .context(|| "mounting /proc".to_owned())?;
    enter_root(&rootfs)?;
    let working_dir = if spec.working_dir.is_empty() {
        "/"
    } else {
        spec.working_dir.as_str()
    };
    // Docker and containerd make a missing working directory.
    std::fs::create_dir_all(working_dir)
        .context(|| format!("creating the working directory {working_dir}"))?;
    nix::unistd::chdir(working_dir).context(|| format!("chdir {working_dir}"))?;
    let null = File::open("/dev/null").context(|| "opening /dev/null".to_owned())?;
    nix::unistd::dup2_stdin(&null)
        .context(|| "giving the container /dev/null as stdin".to_owned())?;
    drop(null);

    capabilities::restrict_bounding_set()?;
    let (name, args) = spec
        .argv
        .split_first()
        .ok_or("the container's argv is empty")?;
    let program = resolve_program(name, path_of(&spec.env))?;
    let error = Command::new(&program)
        .arg0(name)
        .args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .exec();
    Err(format!("exec: \"{name}\": {error}"))
}

/// Makes `rootfs` (a mount point: the overlay) the root of this mount
/// namespace, and unmounts the old root from under it: `pivot_root(".",
/// ".")` stacks the old root on the new one, and a lazy unmount of "."
/// takes it off (pivot_root(2)'s notes).
fn enter_root(rootfs: &Path) -> Result<(), String> {
    nix::unistd::chdir(rootfs).context(|| format!("chdir {}", rootfs.display()))?;
    nix::unistd::pivot_root(".", ".").context(|| format!("pivot_root to {}", rootfs.display()))?;
    umount2(".", MntFlags::MNT_DETACH).context(|| "unmounting the host's root".to_owned())?;
    nix::unistd::chdir("/").context(|| "chdir /".to_owned())
}
