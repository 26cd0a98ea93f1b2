//! Text output for people. `--json` bypasses all of this.

use std::path::Path;

use comfy_table::{ContentArrangement, Table, presets};
use lifeboat_core::contain::freeze::Outcome;
use lifeboat_core::detect::check::{Level, Report};
use lifeboat_core::target::journal::Entry;
use lifeboat_core::target::side::{Listed, Started, Stopped};

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

pub fn check(r: &Report, endpoint: &str) {
    let s = &r.server;
    println!(
        "{} {} ({}) at {endpoint}, connected as {}",
        s.flavor, s.version, s.version_comment, s.current_user
    );
    println!(
        "identity: {}   (pass as --confirm-server to freeze/thaw/restore)",
        r.identity
    );
    println!("datadir: {}   page size: {}\n", s.datadir, s.page_size);
    for f in &r.findings {
        println!("{:<5} {:<30} {}", f.level.to_string(), f.id, f.summary);
        if f.level != Level::Ok {
            println!("{:36}why: {}", "", f.why);
            if let Some(fix) = &f.fix {
                println!("{:36}fix: {}", "", fix);
            }
        }
    }
    let count = |l: Level| r.findings.iter().filter(|f| f.level == l).count();
    println!(
        "\n{} OK, {} WARN, {} FAIL",
        count(Level::Ok),
        count(Level::Warn),
        count(Level::Fail)
    );
}

pub fn freeze(o: &Outcome) {
    let verb = if o.dry_run { "would be" } else { "is now" };
    match o.action {
        "freeze" => println!(
            "{}: {} read-only{}",
            o.server,
            verb,
            if o.was_read_only {
                " (it already was)"
            } else {
                ""
            }
        ),
        _ => println!(
            "{}: {} writable{}",
            o.server,
            verb,
            if o.was_read_only {
                ""
            } else {
                " (it already was)"
            }
        ),
    }
    if let Some(sro) = o.super_read_only {
        println!("super_read_only: {}", if sro { "ON" } else { "OFF" });
    }
    if !o.sessions.is_empty() {
        println!("\nsessions still connected ({}):", o.sessions.len());
        let mut t = table(&[
            "id",
            "user",
            "host",
            "db",
            "command",
            "time",
            "statement",
            "note",
        ]);
        for s in &o.sessions {
            let note = if o.may_still_write.contains(&s.id) {
                "may still write (READ_ONLY ADMIN)"
            } else {
                ""
            };
            t.add_row(vec![
                s.id.to_string(),
                s.user.clone(),
                s.host.clone(),
                s.db.clone(),
                s.command.clone(),
                s.time.to_string(),
                s.info.clone(),
                note.into(),
            ]);
        }
        println!("{t}");
    }
    if !o.write_transactions.is_empty() {
        // Under super_read_only (MySQL) their COMMIT fails (error 1290); MariaDB's read_only
        // lets a transaction that was open commit.
        let fate = if o.super_read_only == Some(true) {
            "their COMMIT will fail; end them to release their locks"
        } else {
            "they can still commit unless ended"
        };
        println!(
            "\nopen write transactions ({}) — {fate}:",
            o.write_transactions.len()
        );
        let mut t = table(&["session", "user", "started", "rows modified", "killed"]);
        for w in &o.write_transactions {
            t.add_row(vec![
                w.session_id.to_string(),
                w.user.clone(),
                w.started.clone(),
                w.rows_modified.to_string(),
                if o.killed.contains(&w.session_id) {
                    "yes"
                } else {
                    ""
                }
                .into(),
            ]);
        }
        println!("{t}");
        if o.killed.is_empty() && o.action == "freeze" {
            println!("end them with --kill-writers (their changes roll back)");
        }
    }
}

pub fn sandbox_started(s: &Started) {
    println!("sandbox running: {} (pid {})", s.version, s.pid);
    println!("  dir:     {}", s.dir.display());
    println!("  tcp:     127.0.0.1:{}", s.port);
    println!("  socket:  {}", s.socket.display());
    println!("  binlog:  {}", if s.binlog { "on" } else { "off" });
    if !s.settings.is_empty() {
        println!("  set:     {}", s.settings.join(" "));
    }
    println!("connect:");
    for c in &s.connect {
        println!("  {c}");
    }
    println!("stop:\n  lifeboat sandbox stop --dir {}", s.dir.display());
}

pub fn sandbox_stopped(s: &Stopped) {
    if s.was_running {
        println!(
            "sandbox {} stopped cleanly{}",
            s.dir.display(),
            if s.removed { " and removed" } else { "" }
        );
    } else {
        println!(
            "sandbox {} was not running{}",
            s.dir.display(),
            if s.removed { "; removed" } else { "" }
        );
    }
}

pub fn repo_created(location: &str, c: &lifeboat_repo::RepoConfig) {
    println!(
        "repository created at {location} (id {}, format {})",
        c.id, c.format
    );
    if let Some(e) = &c.encryption {
        println!(
            "encrypted with age to {}; keep the passphrase safe: without it the backups are lost",
            e.recipient
        );
    }
}

pub fn unlocked(removed: &[lifeboat_repo::LockInfo]) {
    if removed.is_empty() {
        println!("no locks");
    }
    for l in removed {
        println!("removed lock: {l}");
    }
}

pub fn archived(o: &lifeboat_core::protect::archive::Outcome) {
    println!(
        "archived {} bytes in {} segments; archive of {} reaches {}:{}",
        o.bytes,
        o.segments,
        o.server,
        o.file.as_deref().unwrap_or("-"),
        o.position
    );
    for g in &o.gaps {
        println!("GAP: {}", g.reason);
    }
}

pub fn sandbox_list(list: &[Listed]) {
    if list.is_empty() {
        println!("no sandboxes");
        return;
    }
    let mut t = table(&["dir", "state", "port", "pid", "socket"]);
    for l in list {
        t.add_row(vec![
            l.dir.display().to_string(),
            if l.running { "running" } else { "stopped" }.into(),
            l.port.map(|p| p.to_string()).unwrap_or_default(),
            l.pid
                .filter(|_| l.running)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            l.socket
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_default(),
        ]);
    }
    println!("{t}");
}

pub fn journal(entries: &[Entry]) {
    if entries.is_empty() {
        println!("the journal is empty");
        return;
    }
    let mut t = table(&[
        "time",
        "user@host",
        "server",
        "command",
        "outcome",
        "detail",
    ]);
    for e in entries {
        t.add_row(vec![
            e.time.clone(),
            format!("{}@{}", e.os_user, e.host),
            e.server.clone(),
            e.command.clone(),
            e.outcome.clone(),
            e.detail.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

pub fn backup(o: &lifeboat_core::protect::backup::Outcome) {
    println!("backup {} committed", o.id);
    println!(
        "  {} databases, {} tables, {} rows; {} logical, {} stored in {} objects",
        o.databases,
        o.tables,
        o.rows,
        mib(o.logical_bytes),
        mib(o.stored_bytes),
        o.objects
    );
    println!(
        "  took {:.1} s; writers blocked {} ms ({}), DDL blocked {} ms",
        o.duration_ms as f64 / 1000.0,
        o.lock_held_ms,
        o.lock,
        o.ddl_blocked_ms
    );
    for w in &o.skipped {
        eprintln!("warning: {w}");
    }
    match &o.binlog {
        Some(p) => println!(
            "  binlog position {p}; GTID {}",
            o.gtid.as_deref().unwrap_or("(none)")
        ),
        None => {
            println!("  binary log off: no position recorded (point-in-time recovery impossible)")
        }
    }
}

pub fn backups(list: &[lifeboat_repo::BackupListing]) {
    use lifeboat_repo::BackupListing;
    if list.is_empty() {
        println!("no backups");
        return;
    }
    let mut t = table(&[
        "id", "status", "server", "started", "finished", "stored", "logical", "binlog", "gtid",
    ]);
    for l in list {
        match l {
            BackupListing::Complete(m) => {
                let body = lifeboat_core::protect::backup::Body::of(m).ok();
                t.add_row(vec![
                    m.id.to_string(),
                    "complete".into(),
                    body.as_ref()
                        .map(|b| b.server.identity.clone())
                        .unwrap_or_default(),
                    m.started.clone(),
                    m.finished.clone(),
                    mib(m.stored_bytes()),
                    mib(m.logical_bytes()),
                    body.as_ref()
                        .and_then(|b| b.binlog.as_ref())
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    body.and_then(|b| b.gtid).unwrap_or_default(),
                ]);
            }
            BackupListing::Incomplete { id, objects } => {
                t.add_row(vec![
                    id.clone(),
                    format!("INCOMPLETE ({objects} objects, no manifest)"),
                ]);
            }
            BackupListing::Damaged { id, reason } => {
                t.add_row(vec![id.clone(), format!("DAMAGED: {reason}")]);
            }
        }
    }
    println!("{t}");
}

pub fn verify(reports: &[lifeboat_repo::VerifyReport]) {
    if reports.is_empty() {
        println!("no committed backups to verify");
    }
    for r in reports {
        if r.problems.is_empty() {
            println!(
                "{}: OK ({} objects{})",
                r.id,
                r.objects,
                if r.read_data {
                    format!(", {} read and hashed", mib(r.bytes_read))
                } else {
                    String::new()
                }
            );
        } else {
            println!(
                "{}: {} DAMAGED object(s) of {}",
                r.id,
                r.problems.len(),
                r.objects
            );
            for p in &r.problems {
                println!("  {}: {}", p.object, p.problem);
            }
        }
    }
}

pub fn restore(o: &lifeboat_core::recover::restore::Outcome) {
    println!(
        "restored backup {} into {} ({}): {} tables, {} rows, {} in {:.1} s",
        o.backup,
        o.target,
        o.databases.join(", "),
        o.tables,
        o.rows,
        mib(o.bytes),
        o.duration_ms as f64 / 1000.0
    );
    if o.checksums_matched > 0 {
        println!(
            "CHECKSUM TABLE matched the backup for {} tables",
            o.checksums_matched
        );
    }
    for w in &o.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(s) = &o.sandbox {
        sandbox_started(s);
    }
}

/// What `undelete` recovered.
pub fn undeleted(done: &lifeboat_core::forensic::Undeleted) {
    println!(
        "{} rows of {} recovered ({} delete-marked, {} from free lists) into {}",
        done.rows,
        done.table,
        done.delete_marked,
        done.free_list,
        done.output.file.display()
    );
    if done.ambiguous > 0 {
        println!(
            "{} of the free-list rows were found in several versions with nothing to tell which is newest (no transaction ids): the one freed last was taken; check them",
            done.ambiguous
        );
    }
    lost_records(done.lost, &done.report);
    if done.duplicates > 0 {
        println!(
            "{} copies of rows already recovered were skipped",
            done.duplicates
        );
    }
}

/// What `undrop` recovered, and the other indexes that fit.
pub fn undropped(done: &lifeboat_core::forensic::Undropped) {
    println!(
        "{} rows of {} recovered from index {} (space {}: {} of {} pages fit the definition; chosen by {}) into {}",
        done.rows,
        done.table,
        done.chosen.index_id,
        done.chosen.space_id,
        done.chosen.consistent,
        done.chosen.pages,
        done.chosen_by,
        done.output.file.display()
    );
    if let Some(d) = &done.definition {
        println!(
            "the definition was rebuilt from the dictionary records of the {} table id {}",
            if d.dropped { "dropped" } else { "live" },
            d.table_id
        );
        for n in &d.notes {
            println!("  not recorded by InnoDB: {n}");
        }
    }
    if done.candidates.len() > 1 {
        println!("other indexes whose pages fit (pick one with --index-id):");
        for c in done.candidates.iter().skip(1) {
            println!(
                "  index {} (space {}): {} of {} pages fit, {} exactly",
                c.index_id, c.space_id, c.consistent, c.pages, c.exact
            );
        }
    }
    if done.rows_from_copies > 0 {
        println!(
            "warning: {} rows come from copies of pages (the doublewrite buffer) whose own place holds something else now: they may be older than the table's last state",
            done.rows_from_copies
        );
    }
    lost_records(done.lost, &done.report);
}

/// What `salvage` recovered, and the damaged pages.
pub fn salvaged(done: &lifeboat_core::forensic::Salvaged) {
    println!(
        "{} rows recovered from {} ({} leaf pages of index {}) into {}",
        done.rows,
        done.file.display(),
        done.leaf_pages,
        done.index_id,
        done.output.file.display()
    );
    for p in &done.damaged {
        println!(
            "  page {} ({}): {}{}",
            p.page,
            p.page_type,
            p.problem,
            p.records.map_or(String::new(), |n| format!(
                " [{} records counted, {} recovered]",
                n, p.recovered
            ))
        );
    }
}

/// How to load recovered rows, or where they were loaded.
/// The tables a load of recovered rows created, and the side instance it started.
pub fn load_done(l: &lifeboat_core::forensic::recovered::Loaded) {
    for t in &l.tables {
        println!(
            "loaded into {} on {}: {} rows (row count checked)",
            t.table, l.target, t.rows
        );
    }
    if let Some(s) = &l.sandbox {
        sandbox_started(s);
    }
}

pub fn loaded(
    w: &lifeboat_core::forensic::recovered::Written,
    loaded: Option<&lifeboat_core::forensic::recovered::Loaded>,
) {
    if let Some(l) = loaded {
        load_done(l);
        return;
    }
    match &w.script {
        Some(script) => println!(
            "load it with: cd {} && mariadb --local-infile=1 DATABASE < {}",
            script.parent().unwrap_or(Path::new(".")).display(),
            script.file_name().unwrap_or_default().to_string_lossy()
        ),
        None => println!(
            "load it with: mariadb DATABASE < {}   (or rerun with --load / --sandbox DIR)",
            w.file.display()
        ),
    }
}

pub fn prune(o: &lifeboat_core::protect::prune::Outcome) {
    let verb = if o.dry_run { "would remove" } else { "removed" };
    for k in &o.keep {
        println!("keep    {}  ({})", k.id, k.kept_by.join(", "));
    }
    for id in &o.remove {
        println!("{verb:<7} {id}");
    }
    for id in &o.incomplete {
        println!("{verb:<7} {id}  (incomplete: interrupted backup)");
    }
    println!(
        "{} kept, {} {verb}, {} incomplete {verb}",
        o.keep.len(),
        o.remove.len(),
        o.incomplete.len()
    );
}

/// One event in the style of `mysqlbinlog -vv`: a `# at` line, then the statement or the rows.
pub fn binlog_event(
    out: &mut impl std::io::Write,
    e: &lifeboat_core::detect::events::Shown,
) -> std::io::Result<()> {
    write!(
        out,
        "# at {} (to {})  {}  server {}  {}",
        e.start, e.end, e.time, e.server_id, e.event_type
    )?;
    if let Some(g) = &e.gtid {
        write!(out, "  GTID {g}")?;
    }
    if let (Some(d), Some(t)) = (&e.database, &e.table) {
        write!(out, "  `{d}`.`{t}`")?;
    }
    if let Some(i) = &e.info {
        write!(out, "  {i}")?;
    }
    writeln!(out)?;
    if let Some(q) = &e.query {
        if let Some(d) = e.database.as_ref().filter(|_| e.table.is_none()) {
            writeln!(out, "use `{d}`;")?;
        }
        writeln!(out, "{q};")?;
    }
    let name = match (&e.database, &e.table) {
        (Some(d), Some(t)) => format!("`{d}`.`{t}`"),
        _ => String::new(),
    };
    for r in &e.rows {
        let (verb, first, second) = match e.kind {
            Some("insert") => ("INSERT INTO", None, r.after.as_ref().map(|a| ("SET", a))),
            Some("delete") => ("DELETE FROM", r.before.as_ref().map(|b| ("WHERE", b)), None),
            _ => (
                "UPDATE",
                r.before.as_ref().map(|b| ("WHERE", b)),
                r.after.as_ref().map(|a| ("SET", a)),
            ),
        };
        writeln!(out, "### {verb} {name}")?;
        for (label, image) in [first, second].into_iter().flatten() {
            writeln!(out, "### {label}")?;
            for (col, v) in &image.0 {
                writeln!(out, "###   {col}={}", sql_literal(v))?;
            }
        }
    }
    Ok(())
}

fn sql_literal(v: &lifeboat_core::detect::events::Cell<'_>) -> String {
    use lifeboat_core::detect::events::Cell;
    match v {
        Cell::Null => "NULL".into(),
        Cell::Int(n) => n.to_string(),
        Cell::UInt(n) => n.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Text(s) => {
            let mut q = String::with_capacity(s.len() + 2);
            q.push('\'');
            for c in s.chars() {
                match c {
                    '\'' => q.push_str("\\'"),
                    '\\' => q.push_str("\\\\"),
                    '\n' => q.push_str("\\n"),
                    '\r' => q.push_str("\\r"),
                    '\t' => q.push_str("\\t"),
                    '\0' => q.push_str("\\0"),
                    c => q.push(c),
                }
            }
            q.push('\'');
            q
        }
        Cell::Bytes(b) if b.is_empty() => "''".into(),
        Cell::Bytes(b) => {
            let mut h = String::with_capacity(2 + 2 * b.len());
            h.push_str("0x");
            for x in b.iter() {
                h.push_str(&format!("{x:02X}"));
            }
            h
        }
    }
}

/// `binlog verify`: one line per file.
pub fn binlog_verdicts(list: &[lifeboat_core::detect::events::Verdict]) {
    for v in list {
        let gtids = match (&v.span.first_gtid, &v.span.last_gtid) {
            (Some(a), Some(b)) if a == b => format!(", GTID {a}"),
            (Some(a), Some(b)) => format!(", GTIDs {a} .. {b}"),
            _ => String::new(),
        };
        let times = match (&v.span.first_time, &v.span.last_time) {
            (Some(a), Some(b)) => format!(", {a} .. {b}"),
            _ => String::new(),
        };
        if v.ok {
            println!(
                "ok    {}: {} events, {} transactions, {} bytes{gtids}{times}",
                v.file, v.span.events, v.span.transactions, v.size
            );
        } else {
            println!("BAD   {}: {}", v.file, v.problems.join("; "));
        }
        for n in &v.notes {
            println!("      note: {n}");
        }
    }
}

/// `lifeboat binlogs`: per server, the archived files and the holes.
pub fn binlog_coverage(list: &[lifeboat_core::protect::archive::Coverage]) {
    if list.is_empty() {
        println!("no archived binlogs");
    }
    for c in list {
        println!("server {}", c.server);
        let mut t = table(&[
            "file",
            "bytes",
            "state",
            "first event",
            "last event",
            "GTIDs",
        ]);
        for f in &c.files {
            let (first, last, gtids) = match &f.index {
                Some(i) => (
                    i.span.first_time.clone().unwrap_or_default(),
                    i.span.last_time.clone().unwrap_or_default(),
                    match (&i.span.first_gtid, &i.span.last_gtid) {
                        (Some(a), Some(b)) => format!("{a} .. {b}"),
                        _ => String::new(),
                    },
                ),
                None => (
                    String::new(),
                    f.last_event_time.clone().unwrap_or_default(),
                    String::new(),
                ),
            };
            let state = match (f.complete, f.tail_lost) {
                (true, _) => "complete",
                (false, true) => "tail purged",
                (false, false) => "open",
            };
            t.add_row(vec![
                f.file.clone(),
                f.archived.to_string(),
                state.into(),
                first,
                last,
                gtids,
            ]);
        }
        println!("{t}");
        if c.gaps.is_empty() {
            println!("no gaps");
        }
        for g in &c.gaps {
            println!("GAP: {g}");
        }
    }
}

pub fn incidents(s: &lifeboat_core::detect::incidents::Scanned) {
    for g in &s.gaps {
        eprintln!("warning: the archive has a gap the scan cannot see into: {g}");
    }
    for h in &s.harmless {
        eprintln!(
            "not an incident: {} at {} ({})",
            h.statement.as_deref().unwrap_or(h.kind),
            h.id,
            h.harmless.as_deref().unwrap_or_default()
        );
    }
    if s.incidents.is_empty() {
        println!(
            "no destructive events in {} transactions ({} events)",
            s.transactions, s.events
        );
        return;
    }
    for i in &s.incidents {
        let rows: Vec<String> = i
            .rows
            .iter()
            .map(|(t, n)| format!("{n} rows of {t}"))
            .collect();
        println!(
            "{}  {}  {}  {}",
            i.time,
            i.kind.to_uppercase(),
            if rows.is_empty() {
                i.tables.join(", ")
            } else {
                rows.join(", ")
            },
            if i.foreign_key_checks_off {
                "(foreign_key_checks=0)"
            } else {
                ""
            }
        );
        println!(
            "  id {}  transaction starts at {}:{}{}  server {}{}",
            i.id,
            i.transaction_file,
            i.transaction_position,
            i.gtid
                .as_deref()
                .map_or(String::new(), |g| format!("  GTID {g}")),
            i.server_id,
            i.thread_id
                .map_or(String::new(), |t| format!("  thread {t}"))
        );
        if let Some(st) = &i.statement {
            let one_line: String = st.split_whitespace().collect::<Vec<_>>().join(" ");
            let shown: String = one_line.chars().take(200).collect();
            let more = if one_line.chars().count() > 200 {
                " …"
            } else {
                ""
            };
            println!("  {shown}{more}");
        }
        if !i.transaction.is_empty() {
            println!("  its transaction: {}", i.transaction.join("; "));
        }
        let neighbor = |label: &str, n: &lifeboat_core::detect::incidents::Neighbor| {
            println!(
                "    {label} {}  {}{}{}  {}",
                n.time,
                n.transaction,
                n.gtid
                    .as_deref()
                    .map_or(String::new(), |g| format!("  GTID {g}")),
                n.thread_id
                    .map_or(String::new(), |t| format!("  thread {t}")),
                n.what.join("; ")
            );
        };
        for n in &i.before {
            neighbor("before", n);
        }
        for n in &i.after {
            neighbor("after ", n);
        }
    }
    println!(
        "{} incident(s) in {} transactions ({} events)",
        s.incidents.len(),
        s.transactions,
        s.events
    );
}

pub fn pitr_plan(p: &lifeboat_core::recover::pitr::Plan) {
    println!("point-in-time restore, {}", p.target);
    println!("  backup {} (binlog position {})", p.backup, p.start);
    println!(
        "  replay {} transactions, {} of binlog from {} to {} (archive of {})",
        p.transactions,
        mib(p.bytes),
        p.start,
        p.stop,
        p.server
    );
    match &p.last_applied {
        Some(t) => println!(
            "  last applied:  {} {} at {}..{}",
            t.time,
            t.gtid.as_deref().unwrap_or("-"),
            t.start,
            t.end
        ),
        None => println!("  last applied:  none after the backup"),
    }
    if let Some(t) = &p.first_skipped {
        println!(
            "  first skipped: {} {} at {}..{}",
            t.time,
            t.gtid.as_deref().unwrap_or("-"),
            t.start,
            t.end
        );
    }
    for w in &p.warnings {
        eprintln!("warning: {w}");
    }
}

pub fn pitr(o: &lifeboat_core::recover::pitr::Outcome) {
    pitr_plan(&o.plan);
    if let Some(r) = &o.restore {
        restore(r);
    }
    println!(
        "replayed to {} in {:.1} s; GTID state {}",
        o.reached
            .as_ref()
            .map_or_else(|| o.plan.stop.to_string(), ToString::to_string),
        o.replay_ms as f64 / 1000.0,
        o.gtid.as_deref().unwrap_or("-")
    );
}

pub fn diff(r: &lifeboat_core::verify::diff::Report) {
    for t in &r.tables {
        match t.status {
            "equal" => println!(
                "equal    {}  {} rows in {} chunks",
                t.table, t.source_rows, t.chunks
            ),
            "differs" => {
                println!(
                    "DIFFERS  {}  source {} rows, target {} rows: {} missing on the target, {} extra, {} changed ({} of {} chunks; {})",
                    t.table,
                    t.source_rows,
                    t.target_rows,
                    t.missing,
                    t.extra,
                    t.changed,
                    t.chunks_differing,
                    t.chunks,
                    t.method
                );
                for row in &t.rows {
                    println!("  {:<8} key ({})", row.kind, row.key.join(", "));
                }
            }
            other => println!("{}  {}", other.to_uppercase().replace('_', " "), t.table),
        }
    }
    let n = r.tables.iter().filter(|t| t.status != "equal").count();
    if r.equal {
        println!("all {} tables equal", r.tables.len());
    } else {
        println!("{n} of {} tables differ", r.tables.len());
    }
}

pub fn demo(t: &lifeboat_core::demo::Timeline, took: std::time::Duration) {
    println!();
    println!("timeline");
    println!("  backup {}", t.backup);
    println!(
        "  the application committed {} transactions",
        t.app_transactions
    );
    for i in &t.incidents {
        println!(
            "  {}  {} {}  (id {})",
            i.time,
            i.kind,
            i.tables.join(","),
            i.id
        );
    }
    println!(
        "  RPO: at the incident the archive was {} ms behind (everything committed before the DELETE was durable in the archive {} ms after it; the DELETE itself {} ms after)",
        t.rpo_ms, t.rpo_ms, t.incident_archived_ms
    );
    println!(
        "  RTO: restore + replay of {} transactions to just before the first incident: {:.1} s",
        t.replayed,
        t.rto_ms as f64 / 1000.0
    );
    println!(
        "  proven: {} tables equal their state before the accident (CHECKSUM TABLE)",
        t.tables_proven
    );
    for d in &t.damage {
        println!("  production vs recovered: {d}");
    }
    let r = &t.repaired;
    println!(
        "  production repaired: {} back in place ({} rows); {} deleted payments put back ({} conflicts), later writes kept; payments verified: {}",
        r.table.table, r.table.rows, r.rows_put_back, r.conflicts, r.payments_verified
    );
    println!(
        "  end-to-end RTO (incident found -> production repaired and verified): {:.1} s",
        r.end_to_end_ms as f64 / 1000.0
    );
    println!(
        "demo finished in {:.0} s; nothing left running",
        took.as_secs_f64()
    );
}

pub fn innodb_inspect(file: &std::path::Path, r: &lifeboat_innodb::Report) {
    let vendor = match r.vendor {
        lifeboat_innodb::Vendor::Mysql => "MySQL",
        lifeboat_innodb::Vendor::Mariadb => "MariaDB",
        lifeboat_innodb::Vendor::Unknown => "MySQL 5.7 or MariaDB (the formats are the same)",
    };
    println!(
        "{}: {} pages of {} KiB, written by {vendor}",
        file.display(),
        r.pages,
        r.page_size / 1024
    );
    match &r.flags {
        Some(f) => {
            let mut parts = vec![format!("space id {}", r.space_id.unwrap_or(0))];
            parts.push(if f.full_crc32 {
                "full_crc32 checksums".into()
            } else {
                "crc32/innodb checksums".into()
            });
            parts.push(if !f.post_antelope {
                "ROW_FORMAT=REDUNDANT or COMPACT".into()
            } else if let Some(z) = f.zip_size {
                format!("ROW_FORMAT=COMPRESSED ({} KiB pages)", z / 1024)
            } else if f.atomic_blobs {
                "ROW_FORMAT=DYNAMIC or COMPRESSED".into()
            } else {
                "ROW_FORMAT=COMPACT".into()
            });
            match f.page_compressed {
                Some(0) => parts.push("page_compressed (algorithm in each page)".into()),
                Some(a) => parts.push(format!(
                    "page_compressed ({})",
                    lifeboat_innodb::compressed::algorithm_name(u64::from(a))
                )),
                None => {}
            }
            if f.sdi {
                parts.push("SDI".into());
            }
            if f.encrypted {
                parts.push("encrypted".into());
            }
            println!("  flags 0x{:x}: {}", f.raw, parts.join(", "));
        }
        None => println!("  page 0 is unreadable: page size found from the other pages"),
    }
    let types: Vec<String> = r
        .page_types
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    println!("  page types: {}", types.join(", "));
    if r.compressed_pages > 0 {
        println!(
            "  {}: {} pages stored compressed, read expanded{}",
            if r.flags.is_some_and(|f| f.zip_size.is_some()) {
                "ROW_FORMAT=COMPRESSED"
            } else {
                "page_compressed"
            },
            r.compressed_pages,
            match &r.unexpanded_reason {
                Some(why) => format!("; {} did not expand ({why})", r.unexpanded_pages),
                None => String::new(),
            }
        );
    }
    let valid: Vec<String> = r
        .checksums_valid
        .iter()
        .map(|(a, n)| format!("{n} {a}"))
        .collect();
    println!(
        "  checksums: {} valid ({}), {} empty, {} invalid{}",
        r.checksums_valid.values().sum::<u64>(),
        valid.join(", "),
        r.empty_pages,
        r.invalid_pages,
        if r.invalid_list.is_empty() {
            String::new()
        } else {
            format!(
                " (pages {}{})",
                r.invalid_list
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                if r.invalid_pages as usize > r.invalid_list.len() {
                    ", …"
                } else {
                    ""
                }
            )
        }
    );
    if r.misplaced_pages > 0 {
        println!(
            "  {} pages name another page number than their place in the file",
            r.misplaced_pages
        );
    }
    if r.trailing_bytes > 0 {
        println!(
            "  {} bytes after the last whole page (the file is cut short)",
            r.trailing_bytes
        );
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(vec![
        "index id",
        "root",
        "levels",
        "pages",
        "leaf pages",
        "records",
        "delete-marked",
        "free list",
        "broken pages",
        "stale pages",
    ]);
    for ix in &r.indexes {
        t.add_row(vec![
            ix.index_id.to_string(),
            ix.root_page.map_or("-".into(), |p| p.to_string()),
            ix.levels.to_string(),
            ix.pages.to_string(),
            ix.leaf_pages.to_string(),
            ix.records.to_string(),
            ix.delete_marked.to_string(),
            ix.free_records.to_string(),
            ix.broken_pages.to_string(),
            ix.free_pages.to_string(),
        ]);
    }
    println!("{t}");
}

/// `lifeboat rescue`: the start attempts, then one line per table.
pub fn rescue(r: &lifeboat_core::forensic::rescue::Rescue) {
    use lifeboat_core::forensic::rescue::Origin;
    for a in &r.attempts {
        if a.started {
            println!(
                "side instance started with innodb_force_recovery={} ({:.1} s)",
                a.force_recovery, a.seconds
            );
        } else {
            let last = a.log.lines().rev().find(|l| !l.trim().is_empty());
            println!(
                "innodb_force_recovery={}: did not start ({:.1} s){}",
                a.force_recovery,
                a.seconds,
                last.map_or(String::new(), |l| format!(": {}", l.trim()))
            );
        }
    }
    if r.started_with.is_none() {
        println!("the side instance did not start at any level: tables salvaged from their pages");
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["table", "from", "rows", "note"]);
    for t in &r.tables {
        let from = match t.origin {
            Origin::Server => "server",
            Origin::Pages => "pages",
            Origin::Lost => "LOST",
        };
        let mut note = t.problems.join("; ");
        if let Some(n) = t.pages_lost.filter(|&n| n > 0) {
            note = format!("{n} pages lost; {note}");
        }
        if t.rows_lost > 0 {
            note = format!("{} records lost; {note}", t.rows_lost);
        }
        table.add_row([
            format!("{}.{}", t.database, t.table),
            from.to_string(),
            t.rows.to_string(),
            note,
        ]);
    }
    println!("{table}");
    println!("copy: {}", r.copy.display());
    println!("report: {}", r.report.display());
}

/// The line saying how many records did not decode, and where the report lists them.
fn lost_records(lost: u64, report: &std::path::Path) {
    if lost > 0 {
        println!(
            "{lost} records could not be decoded: see {}",
            report.display()
        );
    }
}

pub fn flashback_plan(s: &lifeboat_core::recover::flashback::Summary) {
    println!(
        "{}: {} transactions to undo ({} .. {}), read from {}",
        s.range,
        s.transactions,
        s.first.as_deref().unwrap_or("-"),
        s.last.as_deref().unwrap_or("-"),
        s.files.join(", ")
    );
    for (t, seen) in &s.tables {
        let kinds: Vec<String> = seen
            .events
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        println!("  {t}: row events {}", kinds.join(", "));
    }
    if s.own_undos_skipped > 0 {
        println!(
            "  ({} transactions in the range were flashback undos of an earlier run: left out)",
            s.own_undos_skipped
        );
    }
    for (t, stmt) in &s.changed_since {
        println!("  {t}: redefined after the range? {stmt}");
    }
}

fn undo_rows(c: &lifeboat_core::recover::flashback::Counts) {
    for (t, kinds) in &c.rows {
        let words: Vec<String> = kinds
            .iter()
            .map(|(k, n)| match *k {
                "insert" => format!("{n} deleted rows put back"),
                "delete" => format!("{n} inserted rows removed"),
                _ => format!("{n} updated rows set back"),
            })
            .collect();
        println!("  {t}: {}", words.join(", "));
    }
}

pub fn flashback_written(w: &lifeboat_core::recover::flashback::script::Written) {
    println!(
        "wrote {} ({}): the undo of {} transactions, newest first",
        w.file,
        mib(w.bytes),
        w.transactions
    );
    undo_rows(&w.rows);
}

pub fn flashback_applied(a: &lifeboat_core::recover::flashback::apply::Applied) {
    let verb = if a.dry_run { "would undo" } else { "undid" };
    println!(
        "{}: {verb} {} transactions{}",
        a.server,
        a.transactions,
        if a.already_undone > 0 {
            format!(" ({} skipped: undone by an earlier run)", a.already_undone)
        } else {
            String::new()
        }
    );
    undo_rows(&a.rows);
    if a.verified > 0 {
        println!(
            "{} rows read back after their undo, in its transaction: each holds what it held before the incident",
            a.verified
        );
    }
    if !a.rebuilt_cascade.is_empty() {
        let rebuilt: Vec<String> = a
            .rebuilt_cascade
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        println!(
            "child rows a cascade changed below the binlog, rebuilt in a side instance: {}",
            rebuilt.join(", ")
        );
    }
    if a.conflicts_total > 0 {
        println!(
            "{} conflicts: rows production no longer holds as the incident left them (left as they are):",
            a.conflicts_total
        );
        for c in &a.conflicts {
            println!(
                "  {} {} [{}]: {}; the incident left {}; production holds {}",
                c.table, c.key, c.transaction, c.reason, c.incident_left, c.production_holds
            );
        }
        if a.conflicts.len() < a.conflicts_total as usize {
            println!(
                "  … and {} more",
                a.conflicts_total as usize - a.conflicts.len()
            );
        }
    }
}

pub fn brought(b: &lifeboat_core::recover::tables::Brought) {
    if b.dry_run {
        println!(
            "would rebuild {} tables {} from backup {} and {} transactions, then place them {:?} on {}",
            b.tables.len().max(1),
            b.stop,
            b.backup,
            b.replayed,
            b.placement,
            b.server
        );
        return;
    }
    println!(
        "{}: recovered {} (backup {} + {} transactions) in {:.1} s",
        b.server,
        b.stop,
        b.backup,
        b.replayed,
        b.duration_ms as f64 / 1000.0
    );
    for t in &b.tables {
        println!(
            "  {} -> {}: {} rows, CHECKSUM TABLE {}{}",
            t.table,
            t.placed_as,
            t.rows,
            if t.checksum_matched {
                "matches the recovered state"
            } else {
                "DIFFERS"
            },
            t.set_aside.as_ref().map_or(String::new(), |s| format!(
                "; the live table is kept as {s}"
            ))
        );
        if let Some(d) = &t.difference {
            println!(
                "    vs the live table: {} rows only recovered, {} rows only live, {} rows changed",
                d.only_recovered, d.only_live, d.changed
            );
        }
        for c in &t.children {
            println!(
                "    foreign key {} points at it again{}",
                c.key,
                if c.orphans > 0 {
                    format!(
                        "; {} of its rows have no parent in the recovered table (kept)",
                        c.orphans
                    )
                } else {
                    String::new()
                }
            );
        }
    }
}
