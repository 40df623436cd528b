//! Running a probe or a lifecycle hook once: `exec` inside the container
//! through the runtime, `httpGet` (HTTP/1.1, 2xx and 3xx pass) and
//! `tcpSocket` (a connection opens) against the pod's address.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::runtime::{ContainerId, ContainerRuntime};

/// The most of a probe's output kept for its failure message.
const OUTPUT_KEPT_MAX: usize = 1024;

/// What a probe or hook acts on.
#[derive(Clone)]
pub struct Target {
    /// The container's runtime.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// The container run.
    pub id: ContainerId,
    /// The pod's address (httpGet and tcpSocket default to it).
    pub pod_ip: String,
    /// The container's spec (its named ports).
    pub container: Value,
}

/// Runs `handler` (a probe, or a hook's `exec` / `httpGet` /
/// `tcpSocket`) once within `timeout`; `Err` says why it failed.
pub async fn run(handler: &Value, target: &Target, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, run_untimed(handler, target)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "timeout: no answer within {}s",
            timeout.as_secs_f64()
        )),
    }
}

async fn run_untimed(handler: &Value, target: &Target) -> Result<(), String> {
    if let Some(exec) = handler.get("exec") {
        let argv: Vec<String> = exec
            .get("command")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|v| v.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        return run_exec(&argv, target).await;
    }
    if let Some(http) = handler.get("httpGet") {
        return http_get(http, target).await;
    }
    if let Some(tcp) = handler.get("tcpSocket") {
        let (host, port) = address(tcp, target)?;
        return TcpStream::connect((host.as_str(), port))
            .await
            .map(drop)
            .map_err(|e| format!("dial tcp {host}:{port}: {e}"));
    }
    if handler.get("sleep").is_some() {
        let seconds = handler
            .pointer("/sleep/seconds")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        return Ok(());
    }
    Err("the handler names no exec, httpGet, tcpSocket or sleep action".into())
}

async fn run_exec(argv: &[String], target: &Target) -> Result<(), String> {
    if argv.is_empty() {
        return Err("exec: no command".into());
    }
    let mut command = target
        .runtime
        .exec(&target.id, argv, false)
        .map_err(|e| e.to_string())?;
    command
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = command.output().await.map_err(|e| format!("exec: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text.truncate(OUTPUT_KEPT_MAX);
    let code = output
        .status
        .code()
        .map_or_else(|| "a signal".to_owned(), |c| c.to_string());
    Err(format!(
        "command {argv:?} exited with {code}: {}",
        text.trim_end()
    ))
}

/// A handler's host and port: its `host`, else the pod's address; its
/// `port`, a number or the name of a container port.
fn address(handler: &Value, target: &Target) -> Result<(String, u16), String> {
    let host = handler
        .get("host")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .unwrap_or(&target.pod_ip)
        .to_owned();
    let port = match handler.get("port") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(name)) => name.parse().ok().or_else(|| {
            target
                .container
                .get("ports")
                .and_then(Value::as_array)
                .and_then(|ports| ports.iter().find(|p| p["name"] == name.as_str()))
                .and_then(|p| p["containerPort"].as_u64())
        }),
        _ => None,
    };
    let port = port.and_then(|p| u16::try_from(p).ok()).ok_or_else(|| {
        format!(
            "port {} is not a container port",
            handler.get("port").cloned().unwrap_or_default()
        )
    })?;
    Ok((host, port))
}

async fn http_get(http: &Value, target: &Target) -> Result<(), String> {
    if http.get("scheme").and_then(Value::as_str) == Some("HTTPS") {
        return Err("HTTPS probes are not supported by keel's kubelet".into());
    }
    let (host, port) = address(http, target)?;
    let path = http.get("path").and_then(Value::as_str).unwrap_or("/");
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let url = format!("http://{host}:{port}{path}");
    let mut stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("Get \"{url}\": dial tcp {host}:{port}: {e}"))?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for header in http
        .get("httpHeaders")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = header.get("name").and_then(Value::as_str).unwrap_or("");
        let value = header.get("value").and_then(Value::as_str).unwrap_or("");
        if !name.is_empty() && !name.contains(['\r', '\n']) && !value.contains(['\r', '\n']) {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("Get \"{url}\": {e}"))?;
    let mut head = Vec::new();
    let mut buffer = [0_u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let read = stream
            .read(&mut buffer)
            .await
            .map_err(|e| format!("Get \"{url}\": {e}"))?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&head);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("Get \"{url}\": malformed HTTP response"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}
