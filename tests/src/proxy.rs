//! A TCP proxy on loopback that a test can cut: while cut, it drops every
//! connection it carries and refuses (accepts, then closes) new ones, so a
//! client behind it sees a server that went away, while the server itself
//! runs on and is reachable directly.
//!
//! It runs on OS threads of the test process, outside any simulated or
//! async runtime the test uses.
#![allow(
    clippy::disallowed_methods,
    reason = "test support: the proxy's threads are real, like the servers it fronts"
)]

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A cuttable proxy to one address. Stops forwarding when dropped.
pub struct Proxy {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    carried: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// A proxy to `target` (`127.0.0.1:<port>`) on a free loopback port.
    pub fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port for the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let target: SocketAddr = target.parse().expect("the target is an address");
        let cut = Arc::new(AtomicBool::new(false));
        let carried = Arc::new(Mutex::new(Vec::new()));
        let (accept_cut, accept_carried) = (Arc::clone(&cut), Arc::clone(&carried));
        std::thread::spawn(move || {
            for incoming in listener.incoming() {
                let Ok(client) = incoming else { continue };
                if accept_cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                pipe(&client, &server, &accept_carried);
            }
        });
        Self {
            address,
            cut,
            carried,
        }
    }

    /// The proxy's endpoint, as clients take it: `127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.address.to_string()
    }

    /// Drops every carried connection and refuses new ones until
    /// [`Proxy::mend`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.carried.lock().expect("the proxy's list").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Forwards new connections again.
    pub fn mend(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies bytes both ways between `client` and `server` on two threads,
/// keeping handles on both so [`Proxy::cut`] can shut them down.
fn pipe(client: &TcpStream, server: &TcpStream, carried: &Mutex<Vec<TcpStream>>) {
    let handles = [client.try_clone(), server.try_clone()];
    let copies = [
        (client.try_clone(), server.try_clone()),
        (server.try_clone(), client.try_clone()),
    ];
    let mut list = carried.lock().expect("the proxy's list");
    for handle in handles.into_iter().flatten() {
        list.push(handle);
    }
    for (from, to) in copies {
        let (Ok(mut from), Ok(mut to)) = (from, to) else {
            continue;
        };
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    }
}
