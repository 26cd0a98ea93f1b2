//! The server crate against real MariaDB instances.

use std::time::Duration;

use lifeboat_server::testing::TestServer;
use lifeboat_server::{ConnectError, ConnectOptions, Endpoint, Flavor, Password, ServerInfo, connect};
use mysql_async::prelude::Queryable;

#[tokio::test]
async fn probe_describes_a_sandbox_with_binlog() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY); INSERT INTO d.t VALUES (1)").await;
    let mut conn = srv.conn().await;
    let info = ServerInfo::probe(&mut conn).await.unwrap();
    assert_eq!(info.flavor, Flavor::MariaDb);
    assert!(info.version.major >= 10);
    assert_eq!(info.identity.port, srv.sandbox.port);
    assert_eq!(info.identity.server_id, u32::from(srv.sandbox.port));
    assert!(info.binlog.enabled);
    assert_eq!(info.binlog.format.as_deref(), Some("ROW"));
    assert_eq!(info.binlog.row_image.as_deref(), Some("FULL"));
    assert_eq!(info.binlog.sync_binlog, Some(1));
    let pos = info.binlog.current.clone().expect("root may see the binlog position");
    assert!(pos.file.starts_with("binlog."), "{pos}");
    assert!(!info.gtid.executed.is_empty(), "three transactions were written");
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
    assert!(log.contains("Shutdown complete"), "clean shutdown expected:\n{log}");
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
    srv.exec("CREATE USER app@'127.0.0.1' IDENTIFIED BY 'right-pw'").await;
    let tcp = |pw: &str| ConnectOptions {
        endpoint: Endpoint::Tcp { host: "127.0.0.1".into(), port: srv.sandbox.port },
        user: Some("app".into()),
        password: Some(Password::new(pw)),
        ssl_mode: Default::default(),
        ssl_ca: None,
        connect_timeout: Duration::from_secs(5),
    };
    // PREFERRED falls back to plain text on a server without TLS.
    connect(&tcp("right-pw")).await.unwrap().disconnect().await.unwrap();

    let e = connect(&tcp("wrong-pw-xyz")).await.unwrap_err();
    assert!(matches!(e, ConnectError::AccessDenied { .. }), "{e:?}");
    let shown = format!("{e} {e:?} {:?}", e.hint());
    assert!(!shown.contains("wrong-pw-xyz"), "{shown}");

    let mut required = tcp("right-pw");
    required.ssl_mode = lifeboat_server::SslMode::Required;
    let e = connect(&required).await.unwrap_err();
    assert!(matches!(e, ConnectError::Tls { .. }), "{e:?}");

    let mut refused = tcp("x");
    refused.endpoint = Endpoint::Tcp { host: "127.0.0.1".into(), port: lifeboat_server::sandbox::free_port().unwrap() };
    let e = connect(&refused).await.unwrap_err();
    assert!(matches!(e, ConnectError::Unreachable { .. }), "{e:?}");

    let e = connect(&ConnectOptions::socket_root(std::path::Path::new("/nonexistent/x.sock"))).await.unwrap_err();
    assert!(matches!(e, ConnectError::NoSocket { .. }), "{e:?}");
}

#[tokio::test]
async fn unix_socket_authentication_works_for_the_os_user() {
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
    assert!(matches!(e, ConnectError::AccessDenied { .. } | ConnectError::Other { .. }), "{e:?}");
    srv.exec("ALTER USER root@localhost IDENTIFIED VIA unix_socket").await;
    let mut opts = srv.connect_options();
    opts.user = Some("root".into());
    let mut c = connect(&opts).await.expect("root over unix_socket");
    let u: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(u.as_deref(), Some("root@localhost"));
}
