//! The Linux container runtime against the real kernel: real namespaces,
//! cgroups, overlay mounts and processes, in an image made from the
//! machine's busybox-static. Root only (as in CI).
//!
//! Each test has its own state directory, image and cgroup parent
//! (`keel-test-<pid>-<n>`); its [`Fixture`] (the shared `support`
//! module's sandbox) kills whatever is left in those cgroups and removes
//! them, also when the test fails.

#![allow(
    clippy::disallowed_methods,
    reason = "tests of real containers: real files and time"
)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keel_kubelet::runtime::linux::{Cgroups, Controller, LinuxOptions, LinuxRuntime};
use keel_kubelet::runtime::{
    ContainerId, ContainerRuntime, ContainerSpec, Limits, Mount, RuntimeError, State,
};
use support::{unique, Sandbox};

/// One test's runtime, image and directories ([`Sandbox`], which it
/// derefs to); cleans up on drop.
struct Fixture {
    sandbox: Sandbox,
}

impl std::ops::Deref for Fixture {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl Fixture {
    fn new() -> Self {
        Self {
            sandbox: Sandbox::new("keel-test"),
        }
    }

    /// A spec of a new pod's container running `argv`.
    fn spec(&self, argv: &[&str]) -> ContainerSpec {
        self.sandbox.spec_of("pod", &unique("uid"), 0, argv)
    }
}

/// A log's records as (stream, tag, text), checking each timestamp.
fn log_records(path: &Path) -> Vec<(String, String, String)> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let at = parts.next().expect("a timestamp");
            assert!(
                at.parse::<jiff::Timestamp>().is_ok(),
                "a bad timestamp in {line:?}"
            );
            assert!(
                at.ends_with('Z') && at.len() == "2016-10-06T00:17:09.669794202Z".len(),
                "{line:?}"
            );
            let stream = parts.next().expect("a stream").to_owned();
            let tag = parts.next().expect("a tag").to_owned();
            (stream, tag, parts.next().unwrap_or("").to_owned())
        })
        .collect()
}

fn stdout_lines(path: &Path) -> Vec<String> {
    log_records(path)
        .into_iter()
        .filter(|(stream, ..)| stream == "stdout")
        .map(|(.., text)| text)
        .collect()
}

/// Waits (up to 20 s) until the log has the stdout line `line`.
async fn wait_for_output(log: &Path, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(log.exists() && stdout_lines(log).iter().any(|logged| logged == line)) {
        assert!(Instant::now() < deadline, "{line:?} never came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn detects_the_cgroup_v1_controllers_of_this_machine() {
    let fixture = Fixture::new();
    let cgroups = fixture.runtime.cgroups();
    for controller in [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Pids,
    ] {
        assert!(
            cgroups.v1.contains_key(&controller),
            "{controller:?} missing from {cgroups}"
        );
    }
    assert!(
        cgroups.to_string().starts_with("cgroup v1: memory"),
        "{cgroups}"
    );
}

/// Regression: every detection of a process probed with one directory
/// name, so runtimes detecting at once (as these tests do) took each
/// other's probe for a refusal and went without a controller.
#[test]
fn detections_at_once_each_find_every_controller() {
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                (0..20)
                    .map(|_| Cgroups::detect().expect("mountinfo is readable"))
                    .filter(|cgroups| !cgroups.v1.contains_key(&Controller::Memory))
                    .count()
            })
        })
        .collect();
    let without_memory: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(
        without_memory, 0,
        "detections without the memory controller"
    );
}

/// Regression: `recover` (which `kubectl logs` and the memory
/// housekeeping call at any time) took a container whose start was under
/// way for one whose start never completed, and removed its state under
/// it: the start failed, or `recover` did ("Directory not empty").
#[tokio::test]
async fn recover_leaves_containers_being_started_alone() {
    let fixture = Fixture::new();
    let runtime = std::sync::Arc::clone(&fixture.runtime);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let lister = tokio::spawn(async move {
        let mut rounds = 0_u32;
        while !*stopped.borrow_and_update() {
            runtime.recover().await.expect("recover answers");
            rounds += 1;
            tokio::task::yield_now().await;
        }
        rounds
    });
    for _ in 0..10 {
        let spec = fixture.spec(&["true"]);
        fixture
            .runtime
            .start(&spec)
            .await
            .expect("the start completes");
        assert_eq!(fixture.runtime.wait(&spec.id).await.unwrap().code, 0);
    }
    stop.send_replace(true);
    let rounds = lister.await.unwrap();
    assert!(rounds >= 10, "recover ran {rounds} times");
}

#[tokio::test]
async fn echo_writes_cri_log_records_and_exits_zero() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&["sh", "-c", "echo hello; echo oops >&2; printf partial"]);
    fixture.runtime.start(&spec).await.unwrap();
    let exit = fixture.runtime.wait(&spec.id).await.unwrap();
    assert_eq!((exit.code, exit.signal, exit.oom_killed), (0, None, false));
    let records = log_records(&spec.log_path);
    let records: BTreeSet<(String, String, String)> = records.into_iter().collect();
    let expected: BTreeSet<(String, String, String)> = [
        ("stdout", "F", "hello"),
        ("stderr", "F", "oops"),
        ("stdout", "P", "partial"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    .collect();
    assert_eq!(records, expected);
    // Asked again, the same answer, at once.
    assert_eq!(fixture.runtime.wait(&spec.id).await.unwrap(), exit);
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn exit_code_is_the_process_s() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&["sh", "-c", "exit 3"]);
    fixture.runtime.start(&spec).await.unwrap();
    let exit = fixture.runtime.wait(&spec.id).await.unwrap();
    assert_eq!((exit.code, exit.signal), (3, None));
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn a_missing_program_fails_the_start_and_leaves_nothing() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&["nonexistent", "arg"]);
    let error = fixture.runtime.start(&spec).await.unwrap_err();
    let RuntimeError::Start(message) = error else {
        panic!("not a start error: {error:?}")
    };
    assert_eq!(
        message,
        "exec: \"nonexistent\": executable file not found in $PATH"
    );
    assert!(!fixture.options.state_dir.join(&spec.id.0).exists());
    for dir in fixture.container_cgroups(&spec) {
        assert!(!dir.exists(), "{} is left", dir.display());
        assert!(
            !dir.parent().unwrap().exists(),
            "{} is left",
            dir.parent().unwrap().display()
        );
    }
    assert!(matches!(
        fixture.runtime.wait(&spec.id).await,
        Err(RuntimeError::NotFound(_))
    ));
}

#[tokio::test]
async fn env_working_dir_hostname_and_an_own_pid_namespace() {
    let fixture = Fixture::new();
    let mut spec = fixture.spec(&["sh", "-c", "echo $GREETING; pwd; hostname; echo $$; cat /etc/marker; ps -o pid,comm > /tmp/ps; tail -n +2 /tmp/ps"]);
    spec.env.push(("GREETING".into(), "hi there".into()));
    spec.working_dir = "/work/dir".into();
    spec.hostname = "my-pod".into();
    fixture.runtime.start(&spec).await.unwrap();
    let exit = fixture.runtime.wait(&spec.id).await.unwrap();
    assert_eq!(exit.code, 0, "{:?}", log_records(&spec.log_path));
    let lines = stdout_lines(&spec.log_path);
    assert_eq!(
        lines[..5],
        ["hi there", "/work/dir", "my-pod", "1", "from the image"]
    );
    // sh (pid 1) and ps: nothing of the host.
    let processes: Vec<Vec<&str>> = lines[5..]
        .iter()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(processes.len(), 2, "{lines:?}");
    assert_eq!(processes[0], ["1", "sh"]);
    assert_eq!(processes[1][1], "ps");
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn mounts_are_shared_with_the_host_and_read_only_when_asked() {
    let fixture = Fixture::new();
    let shared = fixture.temp.path().join("shared");
    let read_only = fixture.temp.path().join("read-only");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&read_only).unwrap();
    std::fs::write(shared.join("in"), "from the host\n").unwrap();
    let mut spec = fixture.spec(&[
        "sh",
        "-c",
        "cat /data/in; echo from the container > /data/out; echo x > /config/f || echo refused",
    ]);
    spec.mounts = vec![
        Mount {
            source: shared.clone(),
            destination: "/data".into(),
            read_only: false,
        },
        Mount {
            source: read_only.clone(),
            destination: "/config".into(),
            read_only: true,
        },
    ];
    fixture.runtime.start(&spec).await.unwrap();
    assert_eq!(fixture.runtime.wait(&spec.id).await.unwrap().code, 0);
    assert_eq!(stdout_lines(&spec.log_path), ["from the host", "refused"]);
    assert_eq!(
        std::fs::read_to_string(shared.join("out")).unwrap(),
        "from the container\n"
    );
    assert!(!read_only.join("f").exists());
    // The image is untouched: the mount points live in the container's layer.
    assert!(!fixture.rootfs.join("data").exists());
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn stop_sends_sigterm_to_a_process_that_handles_it() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&[
        "sh",
        "-c",
        "trap 'exit 143' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    fixture.runtime.start(&spec).await.unwrap();
    // Before its trap, a pid 1 shrugs SIGTERM off.
    wait_for_output(&spec.log_path, "ready").await;
    let began = Instant::now();
    let exit = fixture
        .runtime
        .stop(&spec.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(exit.code, 143);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "took {:?}",
        began.elapsed()
    );
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn stop_kills_after_the_grace_what_ignores_sigterm() {
    let fixture = Fixture::new();
    let grace = Duration::from_millis(700);
    // A trap that ignores it, and a plain sleep as pid 1, which the kernel
    // shields from every signal it has no handler for.
    for argv in [
        &["sh", "-c", "trap '' TERM; sleep 100"][..],
        &["sleep", "100"][..],
    ] {
        let spec = fixture.spec(argv);
        fixture.runtime.start(&spec).await.unwrap();
        let began = Instant::now();
        let exit = fixture.runtime.stop(&spec.id, grace).await.unwrap();
        assert_eq!((exit.code, exit.signal), (137, Some(9)), "{argv:?}");
        assert!(
            began.elapsed() >= grace,
            "{argv:?} took {:?}",
            began.elapsed()
        );
        fixture.runtime.remove(&spec.id).await.unwrap();
    }
}

#[tokio::test]
async fn a_memory_hog_is_oom_killed() {
    let fixture = Fixture::new();
    let mut spec = fixture.spec(&["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
    spec.limits = Limits {
        memory_bytes: Some(20 << 20),
        cpu_millis: Some(500),
        cpu_request_millis: Some(100),
        pids: Some(32),
    };
    fixture.runtime.start(&spec).await.unwrap();
    let cgroups = fixture.container_cgroups(&spec);
    let memory =
        fixture.runtime.cgroups().v1[&Controller::Memory].join(&fixture.options.cgroup_parent);
    let limit = std::fs::read_to_string(
        memory
            .join(format!("pod{}", spec.pod.uid))
            .join(&spec.id.0)
            .join("memory.limit_in_bytes"),
    );
    let exit = fixture.runtime.wait(&spec.id).await.unwrap();
    assert_eq!(limit.unwrap().trim(), (20u64 << 20).to_string());
    assert!(exit.oom_killed, "{exit:?}");
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
    fixture.runtime.remove(&spec.id).await.unwrap();
    for dir in cgroups {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

#[tokio::test]
async fn limits_are_written_to_the_cgroup() {
    let fixture = Fixture::new();
    let mut spec = fixture.spec(&["sleep", "100"]);
    spec.limits = Limits {
        memory_bytes: Some(64 << 20),
        cpu_millis: Some(250),
        cpu_request_millis: Some(500),
        pids: Some(16),
    };
    fixture.runtime.start(&spec).await.unwrap();
    let read = |controller: Controller, file: &str| {
        let dir = fixture.runtime.cgroups().v1[&controller]
            .join(&fixture.options.cgroup_parent)
            .join(format!("pod{}", spec.pod.uid))
            .join(&spec.id.0);
        std::fs::read_to_string(dir.join(file))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(
        read(Controller::Memory, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(read(Controller::Cpu, "cpu.cfs_quota_us"), "25000");
    assert_eq!(read(Controller::Cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(Controller::Cpu, "cpu.shares"), "512");
    assert_eq!(read(Controller::Pids, "pids.max"), "16");
    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn exec_runs_inside_and_answers_its_status_and_output() {
    let fixture = Fixture::new();
    let mut spec = fixture.spec(&["sleep", "100"]);
    spec.env.push(("WHO".into(), "container".into()));
    spec.hostname = "exec-pod".into();
    fixture.runtime.start(&spec).await.unwrap();
    let argv: Vec<String> = [
        "sh",
        "-c",
        "echo $WHO; hostname; cat /etc/marker; ps -o pid,comm | grep -c sleep; exit 5",
    ]
    .map(String::from)
    .to_vec();
    let output = fixture
        .runtime
        .exec(&spec.id, &argv, false)
        .unwrap()
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(5),
        "stdout {stdout:?} stderr {:?}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout, "container\nexec-pod\nfrom the image\n1\n");
    let missing = fixture
        .runtime
        .exec(&spec.id, &["nope".to_owned()], false)
        .unwrap()
        .output()
        .await
        .unwrap();
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("executable file not found"));
    let exit = fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(exit.code, 137);
    let ended = fixture.runtime.exec(&spec.id, &argv, false).unwrap_err();
    assert!(
        matches!(&ended, RuntimeError::Start(message) if message.ends_with("is not running")),
        "{ended:?}"
    );
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn a_new_runtime_recovers_a_running_container_and_waits_for_it() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&["sleep", "100"]);
    let started_at = fixture.runtime.start(&spec).await.unwrap();
    let finished = fixture.spec(&["true"]);
    fixture.runtime.start(&finished).await.unwrap();
    fixture.runtime.wait(&finished.id).await.unwrap();

    // The kubelet restarts: a new runtime over the same state.
    let restarted = LinuxRuntime::new(fixture.options.clone()).unwrap();
    let known = restarted.recover().await.unwrap();
    let state_of = |id: &ContainerId| {
        known
            .iter()
            .find(|known| &known.spec.id == id)
            .map(|known| known.state.clone())
    };
    assert_eq!(known.len(), 2);
    assert_eq!(state_of(&spec.id), Some(State::Running { started_at }));
    assert!(matches!(state_of(&finished.id), Some(State::Exited { exit, .. }) if exit.code == 0));
    assert_eq!(
        known
            .iter()
            .find(|known| known.spec.id == spec.id)
            .unwrap()
            .spec,
        spec
    );

    let waiter = tokio::spawn({
        let id = spec.id.clone();
        async move { restarted.wait(&id).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished());
    fixture.runtime.signal(&spec.id, 9).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
    fixture.runtime.remove(&spec.id).await.unwrap();
    fixture.runtime.remove(&finished.id).await.unwrap();
}

#[tokio::test]
async fn stats_come_from_the_cgroup() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo busy; sleep 100; echo never",
    ]);
    fixture.runtime.start(&spec).await.unwrap();
    // Once the loop is done, sh forks its sleep.
    let deadline = Instant::now() + Duration::from_secs(20);
    let stats = loop {
        let stats = fixture.runtime.stats(&spec.id).await.unwrap();
        if stats.pids == 2 && stdout_lines(&spec.log_path) == ["busy"] {
            break stats;
        }
        assert!(stats.pids <= 2, "{stats:?}");
        assert!(
            Instant::now() < deadline,
            "sh never started its sleep: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(stats.memory_bytes > 0, "{stats:?}");
    assert!(stats.cpu_nanos > 0, "{stats:?}");
    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn remove_cleans_cgroups_and_state_but_keeps_the_log() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&["echo", "bye"]);
    fixture.runtime.start(&spec).await.unwrap();
    // A second container of the same pod keeps the pod's cgroup.
    let mut sibling = fixture.spec(&["sleep", "100"]);
    sibling.pod = spec.pod.clone();
    sibling.id = ContainerId::new(&spec.pod.uid, "sidecar", 0);
    fixture.runtime.start(&sibling).await.unwrap();
    fixture.runtime.wait(&spec.id).await.unwrap();
    let cgroups = fixture.container_cgroups(&spec);
    assert!(cgroups.iter().all(|dir| dir.exists()));

    fixture.runtime.remove(&spec.id).await.unwrap();
    assert!(!fixture.options.state_dir.join(&spec.id.0).exists());
    assert!(spec.log_path.exists());
    for dir in &cgroups {
        assert!(!dir.exists(), "{} is left", dir.display());
        assert!(
            dir.parent().unwrap().exists(),
            "the pod's cgroup went with a container still in it"
        );
    }
    assert!(matches!(
        fixture.runtime.wait(&spec.id).await,
        Err(RuntimeError::NotFound(_))
    ));

    // Removing a running container kills it first; the pod's cgroup goes with the last.
    fixture.runtime.remove(&sibling.id).await.unwrap();
    assert!(!fixture.options.state_dir.join(&sibling.id.0).exists());
    for dir in fixture.container_cgroups(&sibling) {
        assert!(!dir.exists(), "{} is left", dir.display());
        assert!(
            !dir.parent().unwrap().exists(),
            "{} is left",
            dir.parent().unwrap().display()
        );
    }
    assert!(fixture.runtime.recover().await.unwrap().is_empty());
}

/// A network namespace made with `ip netns add`, deleted on drop.
struct NetworkNamespace(String);

impl NetworkNamespace {
    fn new() -> Self {
        let name = unique("keel-test-netns");
        let status = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip");
        assert!(status.success(), "ip netns add {name}");
        Self(name)
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.0)
    }
}

impl Drop for NetworkNamespace {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

#[tokio::test]
async fn the_container_joins_the_pod_network_namespace() {
    use std::os::unix::fs::MetadataExt;
    let fixture = Fixture::new();
    let netns = NetworkNamespace::new();
    let mut spec = fixture.spec(&["readlink", "/proc/self/ns/net"]);
    spec.network_namespace = Some(netns.path());
    fixture.runtime.start(&spec).await.unwrap();
    assert_eq!(fixture.runtime.wait(&spec.id).await.unwrap().code, 0);
    let inode = std::fs::metadata(netns.path()).unwrap().ino();
    assert_eq!(stdout_lines(&spec.log_path), [format!("net:[{inode}]")]);
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn exec_with_a_tty_gives_argv_the_terminal() {
    use std::io::Read;
    let fixture = Fixture::new();
    let spec = fixture.spec(&["sleep", "100"]);
    fixture.runtime.start(&spec).await.unwrap();
    let pty = nix::pty::openpty(None, None).unwrap();
    let argv: Vec<String> = [
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo is-a-tty; exit 4",
    ]
    .map(String::from)
    .to_vec();
    let mut command = fixture.runtime.exec(&spec.id, &argv, true).unwrap();
    command
        .stdin(std::process::Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(std::process::Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(std::process::Stdio::from(pty.slave));
    let status = command.status().await.unwrap();
    drop(command);
    assert_eq!(status.code(), Some(4));
    // Every end of the slave closed: the master reads what was written, then EIO.
    let output = tokio::task::spawn_blocking(move || {
        let mut master = std::fs::File::from(pty.master);
        let mut output = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(read @ 1..) = master.read(&mut buffer) {
            output.extend_from_slice(&buffer[..read]);
        }
        String::from_utf8_lossy(&output).into_owned()
    })
    .await
    .unwrap();
    assert!(output.contains("is-a-tty"), "{output:?}");
    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn a_killed_monitor_takes_its_container_along_and_is_reported() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&["sleep", "100"]);
    fixture.runtime.start(&spec).await.unwrap();
    let state = std::fs::read_to_string(
        fixture
            .options
            .state_dir
            .join(&spec.id.0)
            .join("state.json"),
    )
    .unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let monitor = i32::try_from(state["monitor_pid"].as_i64().unwrap()).unwrap();
    let pid = i32::try_from(state["pid"].as_i64().unwrap()).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    let exit = fixture.runtime.wait(&spec.id).await.unwrap();
    assert_eq!((exit.code, exit.signal), (137, None));
    // The same answer later: it is written down.
    assert_eq!(fixture.runtime.wait(&spec.id).await.unwrap(), exit);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the container outlived its monitor"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fixture.runtime.remove(&spec.id).await.unwrap();
    for dir in fixture.container_cgroups(&spec) {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

#[tokio::test]
async fn recover_removes_a_container_whose_start_never_completed() {
    let fixture = Fixture::new();
    let running = fixture.spec(&["sleep", "100"]);
    fixture.runtime.start(&running).await.unwrap();
    // A kubelet killed while starting one: its spec is written, nothing else.
    let spec = fixture.spec(&["sleep", "100"]);
    let dir = fixture.options.state_dir.join(&spec.id.0);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("spec.json"), serde_json::to_vec(&spec).unwrap()).unwrap();

    let known = fixture.runtime.recover().await.unwrap();
    let ids: Vec<&ContainerId> = known.iter().map(|known| &known.spec.id).collect();
    assert_eq!(ids, [&running.id]);
    assert!(!dir.exists());
    fixture.runtime.remove(&running.id).await.unwrap();
}

#[tokio::test]
async fn a_mount_through_a_symlink_out_of_the_image_is_refused() {
    let fixture = Fixture::new();
    let outside = fixture.temp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // An image whose /escape leads to a host directory.
    std::os::unix::fs::symlink(&outside, fixture.rootfs.join("escape")).unwrap();
    let volume = fixture.temp.path().join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    let mut spec = fixture.spec(&["true"]);
    spec.mounts = vec![Mount {
        source: volume,
        destination: "/escape/sub".into(),
        read_only: false,
    }];
    let error = fixture.runtime.start(&spec).await.unwrap_err();
    assert!(
        matches!(&error, RuntimeError::Start(message) if message.contains("leads out of the container's root")),
        "{error:?}"
    );
    assert!(!outside.join("sub").exists());
}

#[tokio::test]
async fn a_second_start_of_an_id_is_refused_and_harms_nothing() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&["sleep", "100"]);
    fixture.runtime.start(&spec).await.unwrap();
    let error = fixture.runtime.start(&spec).await.unwrap_err();
    assert!(
        matches!(&error, RuntimeError::Start(message) if message.ends_with("exists already")),
        "{error:?}"
    );
    let known = fixture.runtime.recover().await.unwrap();
    assert!(matches!(known[0].state, State::Running { .. }));
    assert_eq!(
        fixture
            .runtime
            .stop(&spec.id, Duration::ZERO)
            .await
            .unwrap()
            .code,
        137
    );
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_containers_start_at_once() {
    const CONTAINERS: usize = 20;
    let fixture = std::sync::Arc::new(Fixture::new());
    let specs: Vec<ContainerSpec> = (0..CONTAINERS)
        .map(|index| fixture.spec(&["sh", "-c", &format!("echo container {index}; exit {index}")]))
        .collect();
    let began = Instant::now();
    let runs: Vec<_> = specs
        .iter()
        .cloned()
        .map(|spec| {
            let fixture = std::sync::Arc::clone(&fixture);
            tokio::spawn(async move {
                fixture.runtime.start(&spec).await.unwrap();
                fixture.runtime.wait(&spec.id).await.unwrap()
            })
        })
        .collect();
    for (index, run) in runs.into_iter().enumerate() {
        let exit = run.await.unwrap();
        assert_eq!(exit.code, i32::try_from(index).unwrap());
        assert_eq!(
            stdout_lines(&specs[index].log_path),
            [format!("container {index}")]
        );
    }
    eprintln!(
        "{CONTAINERS} containers started and ended in {:?}",
        began.elapsed()
    );
    for spec in &specs {
        fixture.runtime.remove(&spec.id).await.unwrap();
    }
    assert!(fixture.runtime.recover().await.unwrap().is_empty());
}

/// Set in the child run of [`refuses_to_run_without_root`].
const NOT_ROOT_CHILD: &str = "KEEL_TEST_NOT_ROOT_CHILD";

/// The test binary runs itself in a new user namespace, where it is not
/// root (uid 65534), to make a runtime there.
#[test]
fn refuses_to_run_without_root() {
    if std::env::var_os(NOT_ROOT_CHILD).is_some() {
        assert_ne!(nix::unistd::geteuid().as_raw(), 0);
        let options = LinuxOptions {
            state_dir: PathBuf::from("/nonexistent/keel-test"),
            helper: vec![env!("CARGO_BIN_EXE_keel-container-init").into()],
            cgroup_parent: "keel-test-not-root".into(),
        };
        let error = LinuxRuntime::new(options).unwrap_err();
        assert!(
            matches!(&error, RuntimeError::Unsupported(message) if message.contains("must run as root")),
            "{error:?}"
        );
        return;
    }
    let output = std::process::Command::new("unshare")
        .arg("--user")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "refuses_to_run_without_root",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NOT_ROOT_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("test refuses_to_run_without_root ... ok"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_container_sees_its_own_mounts_and_none_of_the_host() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&["cat", "/proc/self/mountinfo"]);
    fixture.runtime.start(&spec).await.unwrap();
    assert_eq!(fixture.runtime.wait(&spec.id).await.unwrap().code, 0);
    let mount_points: BTreeSet<String> = stdout_lines(&spec.log_path)
        .iter()
        .filter_map(|line| line.split(' ').nth(4).map(str::to_owned))
        .collect();
    for expected in ["/", "/proc", "/dev", "/dev/null", "/dev/shm", "/sys"] {
        assert!(
            mount_points.contains(expected),
            "{expected} missing from {mount_points:?}"
        );
    }
    // The host's tree was unmounted from under the container's root.
    let host = fixture.temp.path().to_string_lossy().into_owned();
    assert!(
        mount_points
            .iter()
            .all(|point| !point.starts_with("/sys/fs/cgroup") && !point.contains(&host)),
        "{mount_points:?}"
    );
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn root_in_the_container_has_docker_s_default_capabilities_only() {
    let fixture = Fixture::new();
    let spec = fixture.spec(&[
        "sh",
        "-c",
        "grep -E '^Cap(Bnd|Eff)' /proc/self/status; mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo refused",
    ]);
    fixture.runtime.start(&spec).await.unwrap();
    assert_eq!(fixture.runtime.wait(&spec.id).await.unwrap().code, 0);
    let lines: Vec<Vec<String>> = stdout_lines(&spec.log_path)
        .iter()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["CapEff:".to_owned(), "00000000a80425fb".to_owned()],
            vec!["CapBnd:".to_owned(), "00000000a80425fb".to_owned()],
            vec!["refused".to_owned()],
        ]
    );
    // So does a command run by exec.
    let argv: Vec<String> = ["grep", "CapEff", "/proc/self/status"]
        .map(String::from)
        .to_vec();
    let running = fixture.spec(&["sleep", "100"]);
    fixture.runtime.start(&running).await.unwrap();
    let output = fixture
        .runtime
        .exec(&running.id, &argv, false)
        .unwrap()
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .last(),
        Some("00000000a80425fb")
    );
    fixture
        .runtime
        .stop(&running.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&running.id).await.unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}
