//! `lifeboat check` and how every command reaches a server: the findings and their fixes,
//! option files, config and environment, one clear line for bad input, and `--help`.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use lifeboat_server::testing::TestServer;

use crate::harness::{
    Lb, Shop, code, json, level, no_statements_in_binlog, socket_args, stderr, summary, with,
    write_secret,
};

#[tokio::test]
async fn check_fails_without_binlog() {
    // MySQL logs by default.
    let srv = TestServer::start_with(|o| o.server_settings.push("skip-log-bin".into())).await;
    let lb = Lb::new();
    let extra = socket_args(&srv);
    let o = lb.run(&with(&["check", "--json"], &extra));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(level(&r, "binlog"), "FAIL");
    if srv.is_mysql() {
        assert_eq!(r["server"]["flavor"], "mysql");
        assert_eq!(r["identity"], r["server"]["identity"]["server_uuid"]);
    } else {
        assert_eq!(r["server"]["flavor"], "mariadb");
        assert_eq!(
            r["identity"],
            format!(
                "{}:{}",
                r["server"]["identity"]["hostname"].as_str().unwrap(),
                srv.sandbox.port
            )
        );
    }
    // The text report names the problem and the fix.
    let o = lb.run(&with(&["check"], &extra));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("FAIL  binlog"), "{text}");
    assert!(text.contains("log_bin = mysql-bin"), "{text}");
}

#[tokio::test]
async fn check_reports_each_misconfiguration() {
    let srv = TestServer::start_with(|o| o.binlog = true).await;
    srv.exec(
        "SET GLOBAL binlog_format='STATEMENT'; SET GLOBAL binlog_row_image='MINIMAL';
         SET GLOBAL sync_binlog=0;",
    )
    .await;
    Shop::empty()
        .with(
            "CREATE TABLE shop.nopk (a INT) ENGINE=InnoDB;
             CREATE TABLE shop.legacy (id INT PRIMARY KEY) ENGINE=MyISAM;",
        )
        .build(&srv)
        .await;
    srv.exec(
        "CREATE USER limited@'127.0.0.1' IDENTIFIED BY 'Lim1ted-pw';
         GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON *.* TO limited@'127.0.0.1';",
    )
    .await;
    // No statement beside the row events.
    no_statements_in_binlog(&srv).await;
    let lb = Lb::new();
    let pw = write_secret(lb.home.path(), "pw", "Lim1ted-pw\n");
    let port = srv.sandbox.port.to_string();
    let o = lb.run(&[
        "check",
        "--json",
        "--no-defaults",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "limited",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(level(&r, "binlog"), "OK");
    assert_eq!(level(&r, "binlog_format"), "FAIL");
    assert_eq!(level(&r, "binlog_row_image"), "WARN");
    assert_eq!(level(&r, "sync_binlog"), "WARN");
    assert_eq!(level(&r, "binlog_statements"), "WARN");
    assert!(
        summary(&r, "binlog_statements").ends_with("=OFF"),
        "{}",
        summary(&r, "binlog_statements")
    );
    assert_eq!(level(&r, "primary_keys"), "WARN");
    assert!(summary(&r, "primary_keys").contains("shop.nopk"));
    assert_eq!(level(&r, "engines"), "WARN");
    assert!(summary(&r, "engines").contains("shop.legacy (MyISAM)"));
    assert_eq!(level(&r, "privileges_backup"), "FAIL");
    let missing = summary(&r, "privileges_backup");
    // The binlog position needs BINLOG MONITOR on MariaDB, REPLICATION CLIENT on MySQL.
    let monitor = if srv.is_mysql() {
        "REPLICATION CLIENT"
    } else {
        "BINLOG MONITOR"
    };
    assert!(
        missing.contains("RELOAD") && missing.contains(monitor),
        "{missing}"
    );
    assert_eq!(level(&r, "privileges_archive"), "FAIL");
    let fix = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "privileges_backup")
        .unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        fix.starts_with(&format!(
            "GRANT RELOAD, {monitor} ON *.* TO 'limited'@'127.0.0.1'"
        )),
        "{fix}"
    );
    // The suggested GRANT really fixes it.
    srv.exec(&fix).await;
    let o = lb.run(&[
        "check",
        "--json",
        "--no-defaults",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "limited",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert_eq!(level(&json(&o), "privileges_backup"), "OK");
}

#[tokio::test]
async fn option_files_drive_the_connection() {
    let srv = TestServer::start().await;
    srv.exec("CREATE USER fromcnf@'127.0.0.1' IDENTIFIED BY 'q\"uo te#d'")
        .await;
    let lb = Lb::new();
    let inc = write_secret(
        lb.home.path(),
        "inc.cnf",
        "[lifeboat_lab]\npassword = \"q\\\"uo te#d\"  # the password\n",
    );
    let cnf = write_secret(
        lb.home.path(),
        "my.cnf",
        &format!(
            "[client]\nhost=127.0.0.1\nport={}\nloose-user=nobody\n[lifeboat_lab]\nuser = fromcnf\n!include {}\n",
            srv.sandbox.port,
            inc.display()
        ),
    );
    let o = lb.run(&[
        "check",
        "--json",
        "--defaults-file",
        cnf.to_str().unwrap(),
        "--defaults-group-suffix",
        "_lab",
    ]);
    assert!(code(&o) <= 1, "{}", stderr(&o));
    assert_eq!(json(&o)["server"]["current_user"], "fromcnf@127.0.0.1");
    // A named server in the TOML config, password from a password file.
    let pw = write_secret(lb.home.path(), "pw", "q\"uo te#d");
    let cfg = write_secret(
        lb.home.path(),
        "config.toml",
        &format!(
            "[servers.lab]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"fromcnf\"\npassword_file = \"{}\"\n",
            srv.sandbox.port,
            pw.display()
        ),
    );
    let o = lb.run(&[
        "check",
        "--json",
        "--no-defaults",
        "--config",
        cfg.to_str().unwrap(),
        "--server",
        "lab",
    ]);
    assert_eq!(
        json(&o)["server"]["current_user"],
        "fromcnf@127.0.0.1",
        "{}",
        stderr(&o)
    );
    // The environment variable works too.
    let o = lb
        .cmd(&[
            "check",
            "--json",
            "--no-defaults",
            "-h",
            "127.0.0.1",
            "-P",
            &srv.sandbox.port.to_string(),
            "-u",
            "fromcnf",
        ])
        .env("LIFEBOAT_PASSWORD", "q\"uo te#d")
        .output()
        .unwrap();
    assert_eq!(
        json(&o)["server"]["current_user"],
        "fromcnf@127.0.0.1",
        "{}",
        stderr(&o)
    );
    // A config readable by others gets a warning.
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = lb.run(&[
        "check",
        "--json",
        "--no-defaults",
        "--config",
        cfg.to_str().unwrap(),
        "--server",
        "lab",
    ]);
    assert!(
        stderr(&o).contains("readable by group or others"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn bad_input_gives_one_clear_line() {
    let srv = TestServer::start().await;
    srv.exec("CREATE USER app@'127.0.0.1' IDENTIFIED BY 'correct-horse'")
        .await;
    let lb = Lb::new();
    let port = srv.sandbox.port.to_string();
    let bad_pw = write_secret(lb.home.path(), "badpw", "Tr0ub4dor&3-wrong");

    let assert_clear = |o: &Output, needle: &str| {
        assert_eq!(code(o), 1, "{}", stderr(o));
        let err = stderr(o);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(needle),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !err.contains("Tr0ub4dor") && !err.contains("correct-horse"),
            "{err}"
        );
        assert!(!String::from_utf8_lossy(&o.stdout).contains("Tr0ub4dor"));
    };

    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &port,
        "-u",
        "app",
        "--password-file",
        bad_pw.to_str().unwrap(),
    ]);
    assert_clear(&o, "Access denied");
    assert!(stderr(&o).contains("hint:"));

    let free = lifeboat_server::sandbox::free_port().unwrap().to_string();
    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &free,
        "-u",
        "app",
    ]);
    assert_clear(&o, "cannot connect to 127.0.0.1");

    let o = lb.run(&[
        "check",
        "--no-defaults",
        "--socket",
        "/nonexistent/mysqld.sock",
    ]);
    assert_clear(&o, "socket /nonexistent/mysqld.sock does not exist");

    let broken = write_secret(lb.home.path(), "broken.cnf", "[client]\nuser=x\n[oops\n");
    let o = lb.run(&["check", "--defaults-file", broken.to_str().unwrap()]);
    assert_clear(&o, "broken.cnf, line 3");

    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &port,
        "--password-file",
        "/nonexistent/pw",
    ]);
    assert_clear(&o, "cannot read password file /nonexistent/pw");
    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &port,
        "--password-file",
        "/tmp",
    ]);
    assert_clear(&o, "cannot read password file /tmp");

    let o = lb.run(&["check", "--no-defaults", "--server", "prod"]);
    assert_clear(&o, "no server named \"prod\"");

    let o = lb.run(&[
        "sandbox",
        "start",
        "--dir",
        lb.home.path().join("sb").to_str().unwrap(),
        "--mysqld",
        "/nonexistent/mariadbd",
    ]);
    assert_clear(&o, "server binary /nonexistent/mariadbd cannot be run");

    // A password value on argv: refused before parsing, never echoed.
    for args in [
        vec!["check", "-pTr0ub4dor"],
        vec!["check", "--password=Tr0ub4dor"],
    ] {
        let o = lb.run(&args);
        assert_eq!(code(&o), 2);
        assert!(!stderr(&o).contains("Tr0ub4dor"), "{}", stderr(&o));
    }
    // -p without a terminal cannot prompt.
    let o = lb.run(&[
        "check",
        "--no-defaults",
        "-h",
        "127.0.0.1",
        "-P",
        &port,
        "-p",
    ]);
    assert_clear(&o, "no terminal");
}

#[test]
fn help_explains_every_command() {
    let lb = Lb::new();
    let o = lb.run(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for cmd in [
        "check",
        "freeze",
        "thaw",
        "sandbox",
        "journal",
        "Exit codes",
    ] {
        assert!(text.contains(cmd), "{cmd} missing from --help:\n{text}");
    }
    for sub in [
        &["check", "--help"][..],
        &["freeze", "--help"],
        &["thaw", "--help"],
        &["sandbox", "start", "--help"],
        &["journal", "--help"],
    ] {
        let o = lb.run(sub);
        assert_eq!(code(&o), 0, "{sub:?}");
        assert!(String::from_utf8_lossy(&o.stdout).len() > 200, "{sub:?}");
    }
    let o = lb.run(&["check", "--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("--password-file"));
    let o = lb.run(&["no-such-command"]);
    assert_eq!(code(&o), 2);
}
