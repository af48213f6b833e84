//! Blocks in S3-compatible object storage: a real S3 API server (moto's `moto_server`,
//! from PyPI) receives the blocks, and a restarted Pitot reads them back.
//!
//! Skipped with a message when `moto_server` is not installed, unless
//! `PITOT_REQUIRE_S3=1` (as `.ci/run` sets, after installing it) makes it mandatory.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{assert_same_samples, now_ms, series, wait_until, write_request, TestServer};

/// A `moto_server` child process, killed on drop.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    fn start() -> Option<S3Server> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::blocking::Client::new();
        let up = wait_until(Duration::from_secs(30), || {
            client.get(&server.endpoint).send().is_ok()
        });
        assert!(up, "moto_server did not start on {}", server.endpoint);
        Some(server)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn blocks_written_to_s3_are_read_back_after_restart() {
    let Some(s3) = S3Server::start() else {
        assert!(
            std::env::var("PITOT_REQUIRE_S3").is_err(),
            "PITOT_REQUIRE_S3 is set but moto_server cannot be started (pip install 'moto[server]')"
        );
        eprintln!("skipped: moto_server not installed (pip install 'moto[server]')");
        return;
    };
    let http = reqwest::blocking::Client::new();
    let created = http
        .put(format!("{}/pitot-test", s3.endpoint))
        .send()
        .unwrap();
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );

    let mut server = TestServer::start(&[
        "--object-store-url",
        "s3://pitot-test/cluster-a",
        "--s3-endpoint",
        &s3.endpoint,
        "--s3-region",
        "us-east-1",
        "--s3-access-key-id",
        "test",
        "--s3-secret-access-key",
        "test",
        "--s3-allow-http",
        "true",
    ]);
    let token = server.initial_token.clone();
    let base = now_ms() - 120_000;
    let samples: Vec<(i64, f64)> = (0..100)
        .map(|i| (base + i * 1000, i as f64 * 1.5))
        .collect();
    let (status, body) = server.push(
        &token,
        &write_request(vec![series(
            &[("__name__", "s3_test"), ("job", "a")],
            &samples,
        )]),
    );
    assert_eq!(status, 204, "{body}");

    let flushed = server
        .post("/api/pitot/v1/admin/flush")
        .bearer_auth(&server.platform_token)
        .send()
        .unwrap();
    assert_eq!(flushed.status().as_u16(), 200);

    let listing = http
        .get(format!("{}/pitot-test?list-type=2", s3.endpoint))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for object in ["chunks", "index", "meta.json"] {
        assert!(
            listing.contains(&format!("/{object}</Key>"))
                && listing.contains("<Key>cluster-a/default/"),
            "bucket lacks {object} under cluster-a/default/: {listing}"
        );
    }
    assert!(
        !server.data_dir().join("blocks").exists(),
        "blocks must not be written locally when S3 is configured"
    );

    server.restart();
    let exported = server.export(&token, "s3_test");
    assert_eq!(exported.len(), 1);
    assert_same_samples("s3_test", &samples, &exported[0].samples());
}
