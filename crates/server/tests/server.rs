//! The server crate against real MariaDB and MySQL instances.

use std::time::Duration;

use lifeboat_server::testing::TestServer;
use lifeboat_server::{ConnectError, ConnectOptions, Endpoint, Password, ServerInfo, connect};
use mysql_async::prelude::Queryable;

#[tokio::test]
async fn probe_describes_a_sandbox_with_binlog() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec(
        "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY); INSERT INTO d.t VALUES (1)",
    )
    .await;
    let mut conn = srv.conn().await;
    let info = ServerInfo::probe(&mut conn).await.unwrap();
    assert_eq!(info.flavor, srv.flavor());
    assert!(info.version.major >= if srv.is_mysql() { 8 } else { 10 });
    assert_eq!(info.identity.port, srv.sandbox.port);
    assert_eq!(info.identity.server_id, u32::from(srv.sandbox.port));
    assert!(info.binlog.enabled);
    assert_eq!(info.binlog.format.as_deref(), Some("ROW"));
    assert_eq!(info.binlog.row_image.as_deref(), Some("FULL"));
    assert_eq!(info.binlog.sync_binlog, Some(1));
    let pos = info
        .binlog
        .current
        .clone()
        .expect("root may see the binlog position");
    assert!(pos.file.starts_with("binlog."), "{pos}");
    assert!(
        !info.gtid.executed.is_empty(),
        "three transactions were written"
    );
    assert!(info.file_per_table);
    assert_eq!(info.page_size, 16384);
    assert_eq!(info.current_user, "root@localhost");
    assert!(info.identity.matches(&info.identity.id()));
}

#[tokio::test]
async fn sandbox_stop_is_clean_and_restart_keeps_data() {
    let mut srv = TestServer::start().await;
    srv.exec("CREATE DATABASE keep").await;
    assert!(srv.sandbox.stop(Duration::from_secs(60)).await.unwrap());
    assert!(!srv.sandbox.is_running());
    let log = std::fs::read_to_string(&srv.sandbox.error_log).unwrap();
    assert!(
        log.contains("Shutdown complete"),
        "clean shutdown expected:\n{log}"
    );
    // Restart from the same directory: the datadir is reused, not re-initialized.
    let opts = lifeboat_server::SandboxOptions::new(srv.sandbox.dir.clone());
    srv.sandbox = lifeboat_server::Sandbox::start(&opts).await.unwrap();
    let mut c = srv.conn().await;
    let n: Option<u32> = c
        .query_first("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='keep'")
        .await
        .unwrap();
    assert_eq!(n, Some(1));
}

#[tokio::test]
async fn connect_errors_are_specific_and_never_show_the_password() {
    let srv = TestServer::start().await;
    srv.exec("CREATE USER app@'127.0.0.1' IDENTIFIED BY 'right-pw'")
        .await;
    let tcp = |pw: &str| ConnectOptions {
        endpoint: Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: srv.sandbox.port,
        },
        user: Some("app".into()),
        password: Some(Password::new(pw)),
        ssl_mode: Default::default(),
        ssl_ca: None,
        connect_timeout: Duration::from_secs(5),
    };
    // PREFERRED encrypts when the server offers TLS (MySQL, MariaDB 11.4+ make themselves a
    // certificate) and falls back to plain text on one without (a 10.11 sandbox).
    let mut c = connect(&tcp("right-pw")).await.unwrap();
    let cipher: Option<(String, String)> = c
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    let offers_tls = cipher.is_some_and(|(_, v)| !v.is_empty());
    c.disconnect().await.unwrap();

    let e = connect(&tcp("wrong-pw-xyz")).await.unwrap_err();
    assert!(matches!(e, ConnectError::AccessDenied { .. }), "{e:?}");
    let shown = format!("{e} {e:?} {:?}", e.hint());
    assert!(!shown.contains("wrong-pw-xyz"), "{shown}");

    // REQUIRED: encrypted where the server offers TLS, else a TLS error.
    let mut required = tcp("right-pw");
    required.ssl_mode = lifeboat_server::SslMode::Required;
    if offers_tls {
        connect(&required)
            .await
            .unwrap()
            .disconnect()
            .await
            .unwrap();
    } else {
        let e = connect(&required).await.unwrap_err();
        assert!(matches!(e, ConnectError::Tls { .. }), "{e:?}");
    }

    let mut refused = tcp("x");
    refused.endpoint = Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port: lifeboat_server::sandbox::free_port().unwrap(),
    };
    let e = connect(&refused).await.unwrap_err();
    assert!(matches!(e, ConnectError::Unreachable { .. }), "{e:?}");

    let e = connect(&ConnectOptions::socket_root(std::path::Path::new(
        "/nonexistent/x.sock",
    )))
    .await
    .unwrap_err();
    assert!(matches!(e, ConnectError::NoSocket { .. }), "{e:?}");
}

#[tokio::test]
async fn unix_socket_authentication_works_for_the_os_user_mariadb_only() {
    // Debian's default root@localhost: IDENTIFIED VIA unix_socket.
    let srv = TestServer::start().await;
    let me = std::env::var("USER").unwrap_or_else(|_| "root".into());
    if me != "root" {
        return; // the account below must match the OS user running the test
    }
    srv.exec("CREATE USER sockuser@localhost IDENTIFIED VIA unix_socket; GRANT SELECT ON *.* TO sockuser@localhost").await;
    let mut opts = srv.connect_options();
    opts.user = Some("sockuser".into());
    let r = connect(&opts).await;
    // The server refuses: the OS user is root, not sockuser. What matters is a clear error.
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            ConnectError::AccessDenied { .. } | ConnectError::Other { .. }
        ),
        "{e:?}"
    );
    srv.exec("ALTER USER root@localhost IDENTIFIED VIA unix_socket")
        .await;
    let mut opts = srv.connect_options();
    opts.user = Some("root".into());
    let mut c = connect(&opts).await.expect("root over unix_socket");
    let u: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(u.as_deref(), Some("root@localhost"));
}

/// Makes a CA and a server certificate for 127.0.0.1 with openssl; returns (ca, cert, key).
fn make_certs(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    make_certs_with(dir, true)
}

/// [`make_certs`], the server certificate with its names in a subjectAltName or (as MySQL's
/// auto-generated ones) with a common name only.
fn make_certs_with(
    dir: &std::path::Path,
    san: bool,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let o = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=lifeboat test CA",
    ]);
    ca.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&csr);
    std::fs::write(
        dir.join("ext.cnf"),
        format!(
            "{}basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            if san {
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            } else {
                ""
            }
        ),
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// The `tls` account (password `pw`) of `srv` over TCP, with `mode` and `ca`.
fn tls_account(
    srv: &TestServer,
    mode: lifeboat_server::SslMode,
    ca: Option<std::path::PathBuf>,
) -> ConnectOptions {
    ConnectOptions {
        endpoint: Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: srv.sandbox.port,
        },
        user: Some("tls".into()),
        password: Some(Password::new("pw")),
        ssl_mode: mode,
        ssl_ca: ca,
        connect_timeout: Duration::from_secs(5),
    }
}

/// VERIFY_CA checks the chain and not the name: a certificate that names no host in a
/// subjectAltName (as MySQL's auto-generated ones) is accepted when a trusted CA signed it,
/// refused under VERIFY_IDENTITY. On MySQL, also its own auto-generated certificate,
/// verified against the `ca.pem` it wrote into the datadir.
#[tokio::test]
async fn verify_ca_accepts_a_certificate_without_names() {
    use lifeboat_server::SslMode;
    use lifeboat_server::replica::ReplicaConn;
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs_with(certs.path(), false);
    let settings = vec![
        format!("ssl-ca={}", ca.display()),
        format!("ssl-cert={}", cert.display()),
        format!("ssl-key={}", key.display()),
    ];
    let with_certs = TestServer::start_with(|o| o.server_settings = settings).await;
    let auto = if with_certs.is_mysql() {
        Some(TestServer::start().await)
    } else {
        None
    };
    let mut servers = vec![(&with_certs, ca.clone())];
    if let Some(a) = &auto {
        servers.push((a, a.sandbox.datadir.join("ca.pem")));
    }
    for (srv, ca) in servers {
        srv.exec("CREATE USER tls@'127.0.0.1' IDENTIFIED BY 'pw' REQUIRE SSL")
            .await;
        let opts = |mode: SslMode| tls_account(srv, mode, Some(ca.clone()));
        let mut c = connect(&opts(SslMode::VerifyCa))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ca.display()));
        let row: Option<(String, String)> = c
            .query_first("SHOW SESSION STATUS LIKE 'Ssl_version'")
            .await
            .unwrap();
        assert!(row.is_some_and(|(_, v)| v.starts_with("TLS")));
        ReplicaConn::connect(&opts(SslMode::VerifyCa))
            .await
            .unwrap_or_else(|e| panic!("replica {}: {e}", ca.display()));
        let e = connect(&opts(SslMode::VerifyIdentity)).await.unwrap_err();
        assert!(matches!(e, ConnectError::Tls { .. }), "{e:?}");
    }
    // Still only a trusted CA's certificate.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = make_certs(other.path());
    let e = connect(&tls_account(&with_certs, SslMode::VerifyCa, Some(other_ca)))
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectError::Tls { .. }), "{e:?}");
}

#[tokio::test]
async fn tls_modes_against_a_tls_server() {
    use lifeboat_server::SslMode;
    let certs = tempfile::tempdir().unwrap();
    use lifeboat_server::replica::ReplicaConn;
    let (ca, cert, key) = make_certs(certs.path());
    let settings = vec![
        format!("ssl-ca={}", ca.display()),
        format!("ssl-cert={}", cert.display()),
        format!("ssl-key={}", key.display()),
    ];
    let srv = TestServer::start_with(|o| o.server_settings = settings).await;
    srv.exec("CREATE USER tls@'127.0.0.1' IDENTIFIED BY 'pw' REQUIRE SSL")
        .await;
    let opts = |mode: SslMode, ca: Option<std::path::PathBuf>| tls_account(&srv, mode, ca);
    for (mode, ca_file) in [
        (SslMode::Preferred, None),
        (SslMode::Required, None),
        (SslMode::VerifyCa, Some(ca.clone())),
        (SslMode::VerifyIdentity, Some(ca.clone())),
    ] {
        let mut c = connect(&opts(mode, ca_file.clone()))
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let row: Option<(String, String)> = c
            .query_first("SHOW SESSION STATUS LIKE 'Ssl_version'")
            .await
            .unwrap();
        assert!(
            row.is_some_and(|(_, v)| v.starts_with("TLS")),
            "{mode:?} must use TLS"
        );
        // The replication connection (lifeboat's own protocol code) too: the account
        // requires TLS, so logging in and registering prove it.
        let mut rc = ReplicaConn::connect(&opts(mode, ca_file.clone()))
            .await
            .unwrap_or_else(|e| panic!("replica {mode:?}: {e}"));
        rc.execute("SET @master_binlog_checksum = @@global.binlog_checksum")
            .await
            .unwrap();
    }
    let other_ca_dir = tempfile::tempdir().unwrap();
    let (wrong_ca, _, _) = make_certs(other_ca_dir.path());
    let e = ReplicaConn::connect(&opts(SslMode::VerifyCa, Some(wrong_ca)))
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("TLS:"), "{e}");
    let e = ReplicaConn::connect(&opts(SslMode::Disabled, None))
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), Some(1045), "{e}");
    // A certificate from another CA is rejected.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = make_certs(other.path());
    let e = connect(&opts(SslMode::VerifyCa, Some(other_ca)))
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectError::Tls { .. }), "{e:?}");
    // The account requires TLS: DISABLED gets access denied.
    let e = connect(&opts(SslMode::Disabled, None)).await.unwrap_err();
    assert!(matches!(e, ConnectError::AccessDenied { .. }), "{e:?}");
}
