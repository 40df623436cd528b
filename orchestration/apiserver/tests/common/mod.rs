//! What the HTTP front's integration tests share besides keel-tests'
//! `kube` (`KeelUp`, `Kubectl`): the front served from the test's own
//! process.
//!
//! ```text
//!   Front::start() ── keeld + keel_apiserver::serve in this process ──► address
//!        └─ kubectl(program) ── a keel_tests::kube::Kubectl aimed at it
//! ```
//!
//! Each test file compiles its own copy of this module and uses a part of
//! it.

#![allow(dead_code, reason = "each test file uses a part of this module")]

use std::path::PathBuf;

use keel_client::{Client, ClientOptions};
use keel_runtime::Store;
use keel_tests::kube::{write_manifest, Kubectl};
use keel_tests::{Flavor, Server};

/// keeld and the front served from this process (one keeld per test).
pub struct Front {
    /// Where the front listens (`127.0.0.1:<port>`).
    pub address: String,
    /// A scratch directory for manifests and kubectl's caches.
    pub dir: tempfile::TempDir,
    _keeld: Server,
}

impl Front {
    /// Starts keeld and serves the front on a free port (inside a tokio
    /// runtime).
    pub async fn start() -> Self {
        let keeld = Server::start(Flavor::Keeld);
        let client = Client::connect([keeld.client_url()], ClientOptions::new())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(keel_apiserver::serve(listener, Store::new(client)));
        Self {
            address,
            dir: tempfile::tempdir().unwrap(),
            _keeld: keeld,
        }
    }

    /// `program` (a kubectl) pointed at this front, with a cache of its
    /// own.
    pub fn kubectl(&self, program: PathBuf) -> Kubectl {
        Kubectl::new(
            program,
            &[
                "--kubeconfig=/dev/null".to_owned(),
                format!("--server=http://{}", self.address),
            ],
            &self.dir.path().join("kubectl"),
        )
    }

    /// Writes `text` to a manifest file; answers its path.
    pub fn manifest(&self, name: &str, text: &str) -> String {
        write_manifest(self.dir.path(), name, text)
    }
}
