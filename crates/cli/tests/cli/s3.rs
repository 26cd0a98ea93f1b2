//! Repositories on a real S3-compatible server (moto, started here).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use lifeboat_server::testing::TestServer;

use crate::harness::{
    Lb, StopOnDrop, checksums, code, json, sakila, sandbox_socket, stderr, write_secret,
};

/// A moto S3 server on 127.0.0.1, killed on drop.
struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    fn start(bucket: &str) -> Self {
        let port = lifeboat_server::sandbox::free_port().unwrap();
        let args = [
            "-H".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
        ];
        // The console script, or the module when the script is not on PATH (pyenv, no rehash).
        let child = Command::new("moto_server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .or_else(|_| {
                Command::new("python3")
                    .args(["-m", "moto.server"])
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
            })
            .expect("moto (scripts/install-deps installs moto[server] from PyPI)");
        let s = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Create the bucket (moto accepts an unsigned request).
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(c, "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "creating bucket: {answer}"
        );
        s
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3_cmd(lb: &Lb, endpoint: &str, args: &[&str]) -> Output {
    lb.cmd(args)
        .env("AWS_ACCESS_KEY_ID", "lifeboat-test")
        .env("AWS_SECRET_ACCESS_KEY", "lifeboat-test-secret")
        .env("LIFEBOAT_S3_ENDPOINT", endpoint)
        .env("LIFEBOAT_PASSPHRASE", "s3 passphrase for the test")
        .output()
        .unwrap()
}

#[tokio::test]
async fn sakila_round_trip_on_s3_with_encryption() {
    let s3 = S3Server::start("lifeboat");
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    sakila(&srv);
    let lb = Lb::new();
    let repo = "s3://lifeboat/backups/db1";
    let ep = s3.endpoint();
    let o = s3_cmd(&lb, &ep, &["repo", "init", "--repo", repo, "--encrypt"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = s3_cmd(&lb, &ep, &["repo", "init", "--repo", repo]);
    assert_eq!(code(&o), 1, "a second init must be refused");
    let cnf = srv.sandbox.defaults_file.to_str().unwrap().to_owned();
    let o = s3_cmd(
        &lb,
        &ep,
        &[
            "backup",
            "--json",
            "--repo",
            repo,
            "--defaults-file",
            &cnf,
            "--threads",
            "3",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let id = json(&o)["id"].as_str().unwrap().to_owned();
    // Endpoint and credentials from the config file alone (none in the environment).
    let secret = write_secret(lb.home.path(), "s3.secret", "lifeboat-test-secret\n");
    let cfg = write_secret(
        lb.home.path(),
        "config.toml",
        &format!(
            "[s3]\nendpoint = \"{ep}\"\nregion = \"us-east-1\"\naccess_key_id = \"lifeboat-test\"\nsecret_access_key_file = \"{}\"\n",
            secret.display()
        ),
    );
    let o = lb
        .cmd(&[
            "backups",
            "--json",
            "--repo",
            repo,
            "--config",
            cfg.to_str().unwrap(),
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("LIFEBOAT_S3_ENDPOINT")
        .env_remove("AWS_ENDPOINT_URL")
        .env("LIFEBOAT_PASSPHRASE", "s3 passphrase for the test")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)[0]["id"], id.as_str());
    let o = s3_cmd(&lb, &ep, &["verify", "--repo", repo, "--read-data"]);
    assert_eq!(
        code(&o),
        0,
        "{}{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );

    let dst = lb.home.path().join("restored");
    let _stop = StopOnDrop(dst.clone());
    let o = s3_cmd(
        &lb,
        &ep,
        &[
            "restore",
            &id,
            "--json",
            "--repo",
            repo,
            "--sandbox",
            dst.to_str().unwrap(),
            "--verify",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["checksums_matched"], 16);
    assert_eq!(
        checksums(&sandbox_socket(&dst), "sakila").await,
        checksums(&srv.connect_options(), "sakila").await
    );
}

#[test]
fn a_refusing_s3_endpoint_fails_fast_with_one_line() {
    let lb = Lb::new();
    let closed = format!(
        "http://127.0.0.1:{}",
        lifeboat_server::sandbox::free_port().unwrap()
    );
    let t = Instant::now();
    let o = s3_cmd(&lb, &closed, &["backups", "--repo", "s3://nobucket/x"]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.starts_with("error: reading config: ") && err.contains("/nobucket/x/config"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"));
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "took {:?}",
        t.elapsed()
    );
}
