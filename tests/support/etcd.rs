//! A real etcd for coordination tests: the `etcd` binary (Debian's `etcd-server`;
//! `scripts/test` installs it) on 127.0.0.1 with free ports and a data directory of its
//! own, killed on drop. It can be stopped and started again on the same ports and data
//! (an outage).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running (or stopped) single-member etcd.
pub struct Etcd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    /// With TLS: serves `tests/support/tls/server.pem` on `https://` and requires a
    /// client certificate signed by `client-ca.pem`; `/health` is then read from a plain
    /// metrics listener on this port.
    tls_metrics_port: Option<u16>,
}

/// A file of `tests/support/tls/` (test-only keys).
pub fn tls_file(name: &str) -> String {
    format!("{}/tests/support/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A port free now (the listener is dropped: a small race, fine on a test machine).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    /// Starts etcd and waits until it answers `/health`.
    pub async fn start() -> Etcd {
        Etcd::start_with(None).await
    }

    /// Starts etcd on `https://`, requiring client certificates (`--client-cert-auth`).
    pub async fn start_tls() -> Etcd {
        Etcd::start_with(Some(free_port())).await
    }

    async fn start_with(tls_metrics_port: Option<u16>) -> Etcd {
        let mut etcd = Etcd {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            client_port: free_port(),
            peer_port: free_port(),
            tls_metrics_port,
        };
        etcd.resume().await;
        etcd
    }

    /// The client URL (`http://127.0.0.1:PORT`, or `https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = match self.tls_metrics_port {
            Some(_) => "https",
            None => "http",
        };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// Kills etcd (as a crash would) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data, and waits until it is healthy.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "etcd is running");
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .unwrap();
        let mut command = Command::new("etcd");
        if let Some(metrics) = self.tls_metrics_port {
            command
                .args(["--cert-file", &tls_file("server.pem")])
                .args(["--key-file", &tls_file("server.key")])
                .arg("--client-cert-auth")
                .args(["--trusted-ca-file", &tls_file("client-ca.pem")])
                .args([
                    "--listen-metrics-urls",
                    &format!("http://127.0.0.1:{metrics}"),
                ]);
        }
        let child = command
            .args(["--name", "test"])
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &self.endpoint()])
            .args(["--advertise-client-urls", &self.endpoint()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("test={peer}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `etcd` ({e}): install etcd-server (scripts/test does)")
            });
        self.child = Some(child);
        let url = match self.tls_metrics_port {
            Some(metrics) => format!("http://127.0.0.1:{metrics}/health"),
            None => format!("{}/health", self.endpoint()),
        };
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(&url).await {
                if r.text().await.unwrap_or_default().contains("true") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("etcd did not become healthy:\n{}", self.log());
    }

    /// What etcd logged (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}
