//! iproute2's `ip`, run as a child process in the kubelet's own network
//! namespace (never assumed to be the machine's first one): the thin I/O
//! edge of the node network, as CNI's bridge plugin is of its netlink
//! calls.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::NetworkError;

/// The program run: iproute2's `ip`, found on the PATH.
const IP_PROGRAM: &str = "ip";

/// Runs `ip <args>`; answers its stdout, or an error naming the command
/// and its stderr.
pub async fn run(args: &[&str]) -> Result<String, NetworkError> {
    let output = Command::new(IP_PROGRAM)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| NetworkError::Io {
            what: format!("run {}", command_line(args)),
            source,
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(NetworkError::Command {
            command: command_line(args),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Runs `ip -n <namespace> -batch -` with `lines` on its stdin, one
/// process for several changes inside a pod's namespace; stops at the
/// first line that fails.
pub async fn run_batch_in(namespace: &str, lines: &[String]) -> Result<(), NetworkError> {
    let args = ["-n", namespace, "-batch", "-"];
    let shown = || format!("{} <<< {:?}", command_line(&args), lines.join("; "));
    let mut child = Command::new(IP_PROGRAM)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| NetworkError::Io {
            what: format!("run {}", shown()),
            source,
        })?;
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let mut script = lines.join("\n");
    script.push('\n');
    let written = stdin.write_all(script.as_bytes()).await;
    drop(stdin);
    let output = child
        .wait_with_output()
        .await
        .map_err(|source| NetworkError::Io {
            what: format!("run {}", shown()),
            source,
        })?;
    if output.status.success() {
        written.map_err(|source| NetworkError::Io {
            what: format!("write to {}", shown()),
            source,
        })
    } else {
        Err(NetworkError::Command {
            command: shown(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Whether the link `name` exists, in `namespace` or (`None`) in the
/// kubelet's own network namespace.
pub async fn link_exists(namespace: Option<&str>, name: &str) -> Result<bool, NetworkError> {
    let mut args = Vec::with_capacity(6);
    if let Some(namespace) = namespace {
        args.extend(["-n", namespace]);
    }
    args.extend(["link", "show", "dev", name]);
    match run(&args).await {
        Ok(_) => Ok(true),
        Err(NetworkError::Command { stderr, .. }) if stderr.contains("does not exist") => Ok(false),
        Err(error) => Err(error),
    }
}

/// Runs `ip <args>`, taking a failure whose stderr says `absent` (the
/// thing to delete is already gone) as success.
pub async fn run_unless_gone(args: &[&str], absent: &[&str]) -> Result<(), NetworkError> {
    match run(args).await {
        Ok(_) => Ok(()),
        Err(NetworkError::Command { stderr, .. })
            if absent.iter().any(|phrase| stderr.contains(phrase)) =>
        {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

fn command_line(args: &[&str]) -> String {
    let mut line = String::from(IP_PROGRAM);
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    line
}
