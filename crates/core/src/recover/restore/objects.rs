//! What depends on the data: triggers, routines, events, views; accounts; GTIDs.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::Job;
use crate::error::Error;
use crate::protect::backup::{Ddl, lit, q};
use crate::target::guard::GuardedTarget;

pub(super) async fn apply_ddl(
    conn: &mut Conn,
    db: &str,
    d: &Ddl,
) -> Result<(), mysql_async::Error> {
    let mut set = Vec::new();
    if let Some(m) = &d.sql_mode {
        set.push(format!("sql_mode = {}", crate::protect::backup::lit(m)));
    }
    if let Some(c) = &d.character_set_client {
        set.push(format!(
            "character_set_client = {}",
            crate::protect::backup::lit(c)
        ));
    }
    if let Some(c) = &d.collation_connection {
        set.push(format!(
            "collation_connection = {}",
            crate::protect::backup::lit(c)
        ));
    }
    if let Some(z) = &d.time_zone {
        set.push(format!("time_zone = {}", crate::protect::backup::lit(z)));
    }
    conn.query_drop(format!("USE {}", q(db))).await?;
    if !set.is_empty() {
        conn.query_drop(format!("SET {}", set.join(", "))).await?;
    }
    let r = conn.query_drop(&d.create).await;
    conn.query_drop("SET NAMES utf8mb4, sql_mode = 'NO_AUTO_VALUE_ON_ZERO'")
        .await?;
    r
}

/// The accounts of `backup --users`: every account first, then every grant, so a role exists
/// before it is granted or named as a default role (`CREATE USER ... DEFAULT ROLE r` fails
/// with 3162 until `r` exists), whatever order the names sort in. Accounts the target has
/// are left alone and reported.
pub(super) async fn restore_accounts(
    conn: &mut Conn,
    users: &[crate::protect::backup::UserEntry],
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let mut new = Vec::new();
    for u in users {
        let exists: Option<u64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?",
                (&u.user, &u.host),
            )
            .await
            .map_err(Error::sql("checking accounts"))?;
        if exists.unwrap_or(0) > 0 {
            warnings.push(format!(
                "account '{}'@'{}' exists on the target: left unchanged",
                u.user, u.host
            ));
        } else {
            new.push(u);
        }
    }
    let what = |u: &crate::protect::backup::UserEntry| {
        format!("restoring account '{}'@'{}'", u.user, u.host)
    };
    // Passes until every account exists: one that names an account not created yet waits.
    let mut pending = new.clone();
    while !pending.is_empty() {
        let mut waiting = Vec::new();
        let mut last = None;
        for u in &pending {
            match conn.query_drop(&u.create).await {
                Ok(()) => {}
                Err(mysql_async::Error::Server(e)) if e.code == 3162 => {
                    waiting.push(*u);
                    last = Some((*u, mysql_async::Error::Server(e)));
                }
                Err(e) => return Err(Error::sql(what(u))(e)),
            }
        }
        if waiting.len() == pending.len()
            && let Some((u, e)) = last
        {
            return Err(Error::sql(what(u))(e));
        }
        pending = waiting;
    }
    for u in new {
        for g in &u.grants {
            conn.query_drop(g).await.map_err(Error::sql(what(u)))?;
        }
    }
    Ok(())
}

/// After a whole backup is restored, the target's GTID state covers the backup's, so it can
/// become a replica of the source (auto-positioning starts after the backup) and a replay
/// continues from it: MySQL gets the GTIDs it lacks added to `gtid_purged`; MariaDB gets
/// `gtid_slave_pos` on a side instance, or on a server that replicates from nowhere yet.
/// Returns a warning when the state is left alone.
pub(super) async fn cover_backup_gtids(
    conn: &mut Conn,
    backup_gtids: Option<&str>,
    whole: bool,
    own_sandbox: bool,
) -> Result<Option<String>, Error> {
    let Some(gtids) = backup_gtids.map(str::trim).filter(|g| !g.is_empty()) else {
        return Ok(None);
    };
    if !whole {
        // Some tables only: the others' transactions are not in the target.
        return Ok(None);
    }
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(Error::sql("VERSION()"))?;
    if version.is_some_and(|v| v.to_ascii_lowercase().contains("mariadb")) {
        let current: Option<String> = conn
            .query_first("SELECT @@GLOBAL.gtid_slave_pos")
            .await
            .map_err(Error::sql("gtid_slave_pos"))?;
        if !own_sandbox && current.as_deref().is_some_and(|c| !c.trim().is_empty()) {
            return Ok(Some(format!(
                "the target's gtid_slave_pos ({}) was left alone; the backup's GTID position is {gtids}",
                current.unwrap_or_default()
            )));
        }
        // gtid_strict_mode refuses a position behind the target's own binlog: the data is
        // restored all the same.
        return Ok(conn
            .query_drop(format!("SET GLOBAL gtid_slave_pos = {}", lit(gtids)))
            .await
            .err()
            .map(|e| {
                format!("the target's gtid_slave_pos could not be set to the backup's GTID position {gtids} ({e})")
            }));
    }
    let missing: Option<String> = conn
        .query_first(format!(
            "SELECT GTID_SUBTRACT({}, @@GLOBAL.gtid_executed)",
            lit(gtids)
        ))
        .await
        .map_err(Error::sql("GTID_SUBTRACT"))?;
    let missing = missing.unwrap_or_default();
    if missing.trim().is_empty() {
        return Ok(None);
    }
    match conn
        .query_drop(format!(
            "SET GLOBAL gtid_purged = {}",
            lit(&format!("+{missing}"))
        ))
        .await
    {
        Ok(()) => Ok(None),
        // gtid_mode=OFF, or GTIDs the server cannot take: the data is restored all the same.
        Err(e) => Ok(Some(format!(
            "the backup's GTIDs could not be added to the target's gtid_purged ({e}); to make it a replica, SET GLOBAL gtid_purged = '+{missing}'"
        ))),
    }
}

/// On resume, an object the interrupted run already created is fine.
pub(super) fn tolerate_existing(
    r: Result<(), mysql_async::Error>,
    resume: bool,
) -> Result<(), mysql_async::Error> {
    match r {
        // 1050 table/view, 1304 routine, 1359 trigger, 1537 event: already exists.
        Err(mysql_async::Error::Server(e))
            if resume && matches!(e.code, 1050 | 1304 | 1359 | 1537) =>
        {
            Ok(())
        }
        other => other,
    }
}

impl Job<'_> {
    /// Objects that depend on the data.
    pub(super) async fn create_objects(&self, t: &mut GuardedTarget) -> Result<(), Error> {
        let (selection, opts) = (self.selection, self.opts);
        // Objects that depend on the data: triggers after it (they must not fire during the
        // load), then views (in dependency order), routines, events.
        for (s, name) in selection {
            for d in &s.triggers {
                tolerate_existing(apply_ddl(t.conn(), name, d).await, opts.resume)
                    .map_err(Error::sql(format!("creating trigger {name}.{}", d.name)))?;
            }
            for d in &s.routines {
                tolerate_existing(apply_ddl(t.conn(), name, d).await, opts.resume)
                    .map_err(Error::sql(format!("creating routine {name}.{}", d.name)))?;
            }
            for d in &s.events {
                tolerate_existing(apply_ddl(t.conn(), name, d).await, opts.resume)
                    .map_err(Error::sql(format!("creating event {name}.{}", d.name)))?;
            }
        }
        let mut views: Vec<(String, Ddl)> = selection
            .iter()
            .flat_map(|(s, name)| s.views.iter().map(move |v| (name.clone(), v.clone())))
            .collect();
        // A view may use another view: retry until a round makes no progress.
        while !views.is_empty() {
            let before = views.len();
            let mut failed = Vec::new();
            let mut last_err = None;
            for (db, v) in views.drain(..) {
                if let Err(e) = tolerate_existing(apply_ddl(t.conn(), &db, &v).await, opts.resume) {
                    last_err = Some((format!("creating view {db}.{}", v.name), e));
                    failed.push((db, v));
                }
            }
            if failed.len() == before
                && let Some((what, e)) = last_err
            {
                return Err(Error::sql(what)(e));
            }
            views = failed;
        }
        Ok(())
    }

    /// Accounts (with `--users`), and the backup's GTIDs marked executed.
    pub(super) async fn accounts_and_gtids(
        &self,
        t: &mut GuardedTarget,
        warnings: &mut Vec<String>,
    ) -> Result<(), Error> {
        let (body, opts) = (self.body, self.opts);
        if opts.users {
            if body.users.is_empty() {
                warnings.push(
                    "--users: this backup holds no accounts (take it with `backup --users`)".into(),
                );
            }
            restore_accounts(t.conn(), &body.users, warnings).await?;
        }

        if let Some(w) = cover_backup_gtids(
            t.conn(),
            body.gtid.as_deref(),
            opts.tables.is_empty(),
            self.own_sandbox,
        )
        .await?
        {
            warnings.push(w);
        }
        Ok(())
    }
}
