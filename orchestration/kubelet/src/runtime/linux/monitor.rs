//! The monitor: one process per container, started by the runtime in a
//! session of its own so that it outlives the kubelet.
//!
//! 1. Reads `spec.json` and `launch.json`.
//! 2. Unshares the mount, uts and ipc namespaces, joins the pod's network
//!    namespace, makes every mount private.
//! 3. Mounts the overlay (`lowerdir` = the image's rootfs, `upper/` and
//!    `work/` in the state directory) at `rootfs/`, the spec's mounts into
//!    it, a small `/dev` (bind mounts of the host's null, zero, full,
//!    random, urandom and tty, a tmpfs `/dev/shm`) and a read-only `/sys`;
//!    sets the host name. No fallback: a failed overlay fails the start.
//! 4. Starts the two threads that will copy the output (the kernel lets a
//!    process that has unshared its pid namespace make no new thread),
//!    unshares the pid namespace (its children's), and runs the start
//!    stage (pid 1 of the new pid namespace) with its stdout
//!    and stderr piped, and a pipe as its stdin that it keeps open,
//!    close-on-exec, until it executes argv: EOF with nothing read means
//!    argv runs (`state.json`); a message means it could not
//!    (`start-error`).
//! 5. Copies the output into the log (see [`super::log`]), waits for pid 1
//!    and writes `exit.json`, with `oom_killed` from the cgroup's
//!    `memory.oom_control`.
//!
//! The monitor itself is not in the container's cgroups (pid 1 joins them
//! before it executes argv), so the OOM killer never picks it and the
//! cgroup counts only the container. The mounts live in the monitor's mount
//! namespace (and pid 1's copy of it) only, and go with their last
//! process.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::cgroups;
use super::files::{write_atomic, write_json, ContainerDir, Launch, StartRecord};
use super::helper::{exit_code, Context};
use super::log;
use crate::runtime::{ContainerSpec, Exit};

/// The host devices a container gets in its `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// The size of the `/dev/shm` tmpfs.
const SHM_BYTES: u64 = 64 << 20;

/// Runs the monitor of the container whose state directory is `dir`.
pub(super) fn main(dir: &Path) -> i32 {
    // A session of its own: no terminal, no signals of the kubelet's group.
    let _ = nix::unistd::setsid();
    let dir = ContainerDir::new(dir.to_path_buf());
    match run(&dir) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("keel container-init monitor: {message}");
            if !dir.started().exists() {
                let _ = write_atomic(&dir.start_error(), message.as_bytes());
            }
            1
        }
    }
}

fn run(dir: &ContainerDir) -> Result<(), String> {
    let spec = dir.read_spec().context(|| "reading spec.json".to_owned())?;
    let launch = dir
        .read_launch()
        .context(|| "reading launch.json".to_owned())?;
    enter_namespaces(&spec)?;
    mount_rootfs(dir, &spec)?;
    if !spec.hostname.is_empty() {
        nix::unistd::sethostname(&spec.hostname)
            .context(|| format!("setting the host name {:?}", spec.hostname))?;
    }
    let copiers = start_copiers(&spec)?;
    // The children's pid namespace: pid 1 is the start stage.
    unshare(CloneFlags::CLONE_NEWPID).context(|| "unsharing the pid namespace".to_owned())?;
    let (mut child, mut sync) = spawn_start_stage(dir, &launch)?;
    let mut message = String::new();
    let _ = sync.read_to_string(&mut message);
    if !message.is_empty() {
        let _ = child.wait();
        return Err(message);
    }
    let pid = i32::try_from(child.id()).map_err(|_| "a pid beyond i32".to_owned())?;
    let monitor_pid =
        i32::try_from(std::process::id()).map_err(|_| "a pid beyond i32".to_owned())?;
    let started = StartRecord {
        started_at: Timestamp::now(),
        pid,
        monitor_pid,
    };
    write_json(&dir.started(), &started).context(|| "writing state.json".to_owned())?;

    let copiers = copy_output(copiers, &mut child);
    let status = child
        .wait()
        .context(|| "waiting for the container".to_owned())?;
    for copier in copiers {
        // A copier that failed (a full disk) loses output, not the exit.
        let _ = copier.join();
    }
    let (code, signal) = exit_code(status);
    let exit = Exit {
        code,
        signal,
        // As containerd reports it: any OOM kill in the container's cgroup.
        oom_killed: cgroups::oom_killed(&launch.cgroups),
        finished_at: Timestamp::now(),
    };
    write_json(&dir.exit(), &exit).context(|| "writing exit.json".to_owned())
}

/// Unshares the mount, uts and ipc namespaces (which the kernel allows a
/// single-threaded process only) and joins the pod's network namespace.
fn enter_namespaces(spec: &ContainerSpec) -> Result<(), String> {
    let flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    unshare(flags).context(|| "unsharing the mount, uts and ipc namespaces".to_owned())?;
    if let Some(netns) = &spec.network_namespace {
        let file = File::open(netns)
            .context(|| format!("opening the network namespace {}", netns.display()))?;
        setns(&file, CloneFlags::CLONE_NEWNET)
            .context(|| format!("joining the network namespace {}", netns.display()))?;
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context(|| "making the mounts private".to_owned())
}

fn mount_rootfs(dir: &ContainerDir, spec: &ContainerSpec) -> Result<(), String> {
    let (upper, work, rootfs) = (dir.upper(), dir.work(), dir.rootfs());
    for path in [&upper, &work, &rootfs] {
        std::fs::create_dir_all(path).context(|| format!("creating {}", path.display()))?;
    }
    for path in [&spec.rootfs, &upper, &work] {
        if path.to_string_lossy().contains([',', ':']) {
            return Err(format!(
                "{}: an overlay path may not hold ',' or ':'",
                path.display()
            ));
        }
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        spec.rootfs.display(),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        &rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .context(|| format!("mounting the image {} (overlay)", spec.rootfs.display()))?;
    mount_dev(&rootfs)?;
    for volume in &spec.mounts {
        bind(
            &rootfs,
            &volume.source,
            &volume.destination,
            volume.read_only,
        )?;
    }
    let sys = inside(&rootfs, Path::new("/sys"), true)?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // Best effort: a container works without /sys.
    if let Err(error) = mount(Some("sysfs"), &sys, Some("sysfs"), flags, None::<&str>) {
        eprintln!("keel container-init monitor: no /sys: {error}");
    }
    Ok(())
}

fn mount_dev(rootfs: &Path) -> Result<(), String> {
    let dev = inside(rootfs, Path::new("/dev"), true)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        flags,
        Some("mode=755,size=65536k"),
    )
    .context(|| "mounting /dev".to_owned())?;
    for device in DEVICES {
        let target = dev.join(device);
        File::create(&target).context(|| format!("creating {}", target.display()))?;
        let source = Path::new("/dev").join(device);
        mount(
            Some(&source),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .context(|| format!("mounting {}", source.display()))?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(name))
            .context(|| format!("linking /dev/{name}"))?;
    }
    let shm = dev.join("shm");
    std::fs::create_dir(&shm).context(|| "creating /dev/shm".to_owned())?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        flags,
        Some(format!("mode=1777,size={SHM_BYTES}").as_str()),
    )
    .context(|| "mounting /dev/shm".to_owned())
}

/// Bind-mounts the host's `source` at `destination` in the rootfs,
/// making the mount point (a directory, or a file for a file).
fn bind(rootfs: &Path, source: &Path, destination: &Path, read_only: bool) -> Result<(), String> {
    let meta =
        std::fs::metadata(source).context(|| format!("mount source {}", source.display()))?;
    let target = inside(rootfs, destination, meta.is_dir())?;
    mount(
        Some(source),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .context(|| format!("mounting {} at {}", source.display(), destination.display()))?;
    if read_only {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, &target, None::<&str>, flags, None::<&str>)
            .context(|| format!("making {} read-only", destination.display()))?;
    }
    Ok(())
}

/// The host path of the container's `path`, made (a directory or an empty
/// file) if missing; refused if it leaves the rootfs (`..`, or a symlink
/// of the image pointing out of it).
fn inside(rootfs: &Path, path: &Path, directory: bool) -> Result<PathBuf, String> {
    if !path.is_absolute() || path.components().any(|part| part == Component::ParentDir) {
        return Err(format!(
            "{}: a container path must be absolute, without ..",
            path.display()
        ));
    }
    let target = rootfs.join(path.strip_prefix("/").unwrap_or(path));
    let real_root = rootfs
        .canonicalize()
        .context(|| format!("resolving {}", rootfs.display()))?;
    // Checked before anything is made (a symlink of the image could have
    // it made on the host), and again after.
    let mut existing = target.as_path();
    while std::fs::symlink_metadata(existing).is_err() {
        existing = existing.parent().unwrap_or(rootfs);
    }
    within(&real_root, existing, path)?;
    if directory {
        std::fs::create_dir_all(&target).context(|| format!("creating {}", path.display()))?;
    } else if !target.exists() {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).context(|| format!("creating {}", parent.display()))?;
        }
        File::create(&target).context(|| format!("creating {}", path.display()))?;
    }
    within(&real_root, &target, path)
}

/// `host_path` resolved, if that is inside `real_root` (a dangling
/// symlink resolves to nothing, and is refused).
fn within(real_root: &Path, host_path: &Path, path: &Path) -> Result<PathBuf, String> {
    let real = host_path
        .canonicalize()
        .context(|| format!("resolving {}", path.display()))?;
    if !real.starts_with(real_root) {
        return Err(format!(
            "{}: leads out of the container's root",
            path.display()
        ));
    }
    Ok(real)
}

fn spawn_start_stage(
    dir: &ContainerDir,
    launch: &Launch,
) -> Result<(Child, std::io::PipeReader), String> {
    let (program, leading) = launch
        .helper
        .split_first()
        .ok_or("launch.json names no helper")?;
    let (reader, writer) = std::io::pipe().context(|| "making the start pipe".to_owned())?;
    let mut command = Command::new(program);
    command
        .args(leading)
        .arg("start")
        .arg(dir.path())
        .env_clear()
        .stdin(Stdio::from(writer))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command
        .spawn()
        .context(|| format!("running the start stage {}", program.display()))?;
    // The command holds the pipe's writer: dropped, only pid 1 holds it.
    drop(command);
    Ok((child, reader))
}

/// A thread copying one stream into the log, started before the pid
/// namespace is unshared (after it, the kernel refuses new threads), and
/// handed the stream once pid 1 runs.
struct Copier {
    stream: &'static str,
    input: std::sync::mpsc::SyncSender<Box<dyn Read + Send>>,
    thread: std::thread::JoinHandle<()>,
}

fn start_copiers(spec: &ContainerSpec) -> Result<Vec<Copier>, String> {
    if let Some(parent) = spec.log_path.parent() {
        std::fs::create_dir_all(parent).context(|| format!("creating {}", parent.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_path)
        .context(|| format!("opening the log {}", spec.log_path.display()))?;
    let log = Arc::new(Mutex::new(file));
    let mut copiers = Vec::new();
    for stream in ["stdout", "stderr"] {
        let log = Arc::clone(&log);
        // One stream, once: a channel of one.
        let (input, inputs) = std::sync::mpsc::sync_channel::<Box<dyn Read + Send>>(1);
        let thread = std::thread::spawn(move || {
            // No stream: the container never started.
            let Ok(input) = inputs.recv() else { return };
            if let Err(error) = log::copy(input, stream, &log) {
                eprintln!("keel container-init monitor: copying {stream}: {error}");
            }
        });
        copiers.push(Copier {
            stream,
            input,
            thread,
        });
    }
    Ok(copiers)
}

/// Hands pid 1's stdout and stderr to the copiers; answers their threads.
fn copy_output(copiers: Vec<Copier>, child: &mut Child) -> Vec<std::thread::JoinHandle<()>> {
    copiers
        .into_iter()
        .map(|copier| {
            let input: Option<Box<dyn Read + Send>> = match copier.stream {
                "stdout" => child
                    .stdout
                    .take()
                    .map(|out| Box::new(out) as Box<dyn Read + Send>),
                _ => child
                    .stderr
                    .take()
                    .map(|err| Box::new(err) as Box<dyn Read + Send>),
            };
            if let Some(input) = input {
                // The thread waits for it: the send cannot fail but by its
                // panic, which loses output, not the exit.
                let _ = copier.input.send(input);
            }
            copier.thread
        })
        .collect()
}
