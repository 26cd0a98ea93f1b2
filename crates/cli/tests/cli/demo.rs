//! `lifeboat demo`: the README's main job runs end to end and proves its recovery.

use crate::harness::{Lb, code, json, stderr};

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_recovers_and_proves_it() {
    let lb = Lb::new();
    let dir = lb.home.path().join("demo");
    let o = lb.run(&["demo", "--json", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let t = json(&o);
    assert_eq!(t["tables_proven"], 16, "{t}");
    let kinds: Vec<&str> = t["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["delete_without_where", "drop_table"], "{t}");
    assert!(t["rpo_ms"].as_u64().unwrap() < 2000, "{t}");
    assert!(t["replayed"].as_u64().unwrap() > 100, "{t}");
    // Production repaired: rental back in place, the payments put back, proven.
    let r = &t["repaired"];
    assert_eq!(r["table"]["table"], "sakila.rental", "{t}");
    assert_eq!(r["table"]["checksum_matched"], true, "{t}");
    assert!(r["table"]["rows"].as_u64().unwrap() >= 16044, "{t}");
    assert!(r["rows_put_back"].as_u64().unwrap() >= 16049, "{t}");
    assert_eq!(r["conflicts"], 0, "{t}");
    assert_eq!(r["payments_verified"], true, "{t}");
    // No incident names the schema itself (the timeline lists what follows the backup; the
    // harmless-DROP rule is proven by `incidents::a_drop_if_exists_of_what_never_existed…`).
    assert!(
        t["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["tables"][0] != "sakila"),
        "{t}"
    );
    // Nothing left running.
    for sub in ["production", "recovered"] {
        let pid = std::fs::read_to_string(dir.join(sub).join("mysqld.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "{sub} still running"
            );
        }
    }
}
