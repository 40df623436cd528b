//! Where the programs the tests run live.
//!
//! | program | override | default |
//! |---|---|---|
//! | `etcd` | `ETCD_BIN` | `etcd` on `PATH` (Debian's `etcd-server`) |
//! | `etcdctl` | `ETCDCTL_BIN` | `etcdctl` on `PATH` (Debian's `etcd-client`) |
//! | `keeld` | `KEELD_BIN` | `<target>/<profile>/keeld`, next to the test executable |
//! | examples | | `<target>/<profile>/examples/<name>`, beside keeld |
//! | `keel` | | `<target>/<profile>/keel`, beside keeld |
//! | `kubectl` 1.NN | | `/usr/lib/google-cloud-sdk/bin/kubectl.1.NN`, as these machines have it |
//! | `kubectl` 1.20 | `KEEL_TOOLS_DIR` | `~/.cache/keel-tools/kubectl-1.20/usr/bin/kubectl` (tests/prereqs.sh) |
//! | Python with `kubernetes` | `KEEL_TOOLS_DIR` | `~/.cache/keel-tools/python/bin/python` (tests/prereqs.sh) |
//!
//! A missing program panics with what to run to get it.

use std::env;
use std::path::{Path, PathBuf};

/// kubectl 1.`minor` (27 to 33), as installed on these machines; tests
/// name a version instead of the dispatcher `/usr/bin/kubectl`, which picks
/// one by the server's `/version`.
pub fn kubectl(minor: u32) -> PathBuf {
    let path = PathBuf::from(format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}"));
    assert!(
        path.is_file(),
        "kubectl 1.{minor} is not installed at {}",
        path.display()
    );
    path
}

/// kubectl 1.20, Debian's `kubernetes-client` unpacked by
/// `tests/prereqs.sh` beside (not over) the installed kubectl: an old
/// client, to see that the front serves what older clients ask for.
pub fn kubectl_1_20() -> PathBuf {
    let path = tools_dir().join("kubectl-1.20/usr/bin/kubectl");
    assert!(
        is_executable(&path),
        "kubectl 1.20 is not at {}: run `source tests/prereqs.sh && keel_install_prereqs` \
         (tests/run.sh does)",
        path.display()
    );
    path
}

/// The Python of the virtualenv that holds the official Kubernetes Python
/// client (PyPI's `kubernetes`), made by `tests/prereqs.sh`.
pub fn python_with_kubernetes() -> PathBuf {
    let path = tools_dir().join("python/bin/python");
    assert!(
        is_executable(&path),
        "the Python virtualenv with the Kubernetes client is not at {}: run \
         `source tests/prereqs.sh && keel_install_prereqs` (tests/run.sh does)",
        path.display()
    );
    path
}

/// Where `tests/prereqs.sh` puts the tools it installs outside the
/// system's directories: `KEEL_TOOLS_DIR`, or `~/.cache/keel-tools`.
fn tools_dir() -> PathBuf {
    if let Some(dir) = env::var_os("KEEL_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    let home = env::var_os("HOME").expect("HOME is set (tests/prereqs.sh installs under it)");
    PathBuf::from(home).join(".cache/keel-tools")
}

/// The etcd server binary.
pub fn etcd() -> PathBuf {
    from_env_or_path(
        "ETCD_BIN",
        "etcd",
        "install Debian's etcd-server (tests/run.sh does)",
    )
}

/// The etcdctl binary.
pub fn etcdctl() -> PathBuf {
    from_env_or_path(
        "ETCDCTL_BIN",
        "etcdctl",
        "install Debian's etcd-client (tests/run.sh does)",
    )
}

/// The keeld binary built by this workspace.
///
/// Integration test executables live in `<target>/<profile>/deps/`, unit
/// test executables too; keeld is built into `<target>/<profile>/`.
pub fn keeld() -> PathBuf {
    if let Some(path) = env::var_os("KEELD_BIN") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "KEELD_BIN={} is not a file", path.display());
        return path;
    }
    let exe = env::current_exe().expect("the test executable's path");
    let mut dir = exe.parent().expect("the test executable's directory");
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir = dir.parent().expect("the profile directory above deps/");
    }
    let path = dir.join("keeld");
    assert!(
        path.is_file(),
        "keeld not found at {}: build it first with `cargo build --workspace --bins` \
         (tests/run.sh does), or point KEELD_BIN at it",
        path.display()
    );
    path
}

/// keel's etcdctl twin, built next to keeld (`cargo build --workspace
/// --bins`).
pub fn keelctl() -> PathBuf {
    let path = keeld().with_file_name("keelctl");
    assert!(
        path.is_file(),
        "keelctl not found at {}: build it with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// The `keel` command (`keel up`), built next to keeld (`cargo build
/// --workspace --bins`).
pub fn keel() -> PathBuf {
    let path = keeld().with_file_name("keel");
    assert!(
        path.is_file(),
        "keel not found at {}: build it with `cargo build --workspace --bins` (tests/run.sh does)",
        path.display()
    );
    path
}

/// An example program of this workspace (`cargo build --examples` puts it
/// in `<target>/<profile>/examples/`).
pub fn example(name: &str) -> PathBuf {
    let path = keeld()
        .parent()
        .expect("the profile directory")
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "example {name} not found at {}: build it with `cargo build --workspace --examples` \
         (tests/run.sh does)",
        path.display()
    );
    path
}

fn from_env_or_path(var: &str, name: &str, hint: &str) -> PathBuf {
    if let Some(path) = env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{var}={} is not a file", path.display());
        return path;
    }
    let search = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&search)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: {hint}, or set {var}"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
