//! Event groups: the transactions of a binlog as the server delimits them, shared by
//! point-in-time recovery (where to stop) and incidents (where a transaction starts).
//!
//! A GTID event starts a group. MariaDB's GTID says whether the group is one standalone
//! statement (DDL) or a transaction that ends at XID / COMMIT / ROLLBACK / XA PREPARE; on
//! MySQL a BEGIN after the GTID opens a transaction, else the next statement is the whole
//! group. Without GTIDs, BEGIN opens one and any other statement is a group of its own.

use lifeboat_binlog::Event;

/// The group being read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Open {
    /// Offset of its first event (the GTID event, else BEGIN or the statement).
    pub(crate) start: u64,
    /// Commit time in µs since the epoch, when the binlog has it (MySQL's GTID event).
    pub(crate) time_us: Option<i64>,
    /// Ends at XID / COMMIT / ROLLBACK / XA PREPARE, not at its next statement.
    explicit: bool,
}

/// A group just closed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closed {
    /// Offset of its first event.
    pub(crate) start: u64,
    /// Offset just past its last event.
    pub(crate) end: u64,
    /// Commit time in µs: exact where the binlog has it, else the closing event's second.
    pub(crate) time_us: i64,
    /// Whether `time_us` is exact.
    pub(crate) exact: bool,
}

/// Follows event groups through one file.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    open: Option<Open>,
}

/// The first word of a statement, upper-cased, and the second (for XA).
fn verb(sql: &str) -> (String, String) {
    let mut w = sql.split_whitespace();
    let first = w.next().unwrap_or("").to_ascii_uppercase();
    let second = w.next().unwrap_or("").to_ascii_uppercase();
    (first, second)
}

impl Groups {
    /// The group being read, if any.
    pub(crate) fn current(&self) -> Option<&Open> {
        self.open.as_ref()
    }

    /// Takes the event at `at..end` (header timestamp `ts`); returns the group it closes.
    pub(crate) fn event(&mut self, at: u64, end: u64, ts: u32, ev: &Event<'_>) -> Option<Closed> {
        let fresh = |explicit| Open {
            start: at,
            time_us: None,
            explicit,
        };
        let ends = match ev {
            Event::Gtid(g) => {
                self.open = Some(Open {
                    time_us: g.immediate_commit_us.map(|u| u as i64),
                    ..fresh(false)
                });
                false
            }
            Event::MariadbGtid(g) => {
                self.open = Some(fresh(!g.standalone()));
                false
            }
            Event::Query(q) => match verb(&String::from_utf8_lossy(&q.query)) {
                (b, y) if b == "BEGIN" || (b == "XA" && y == "START") => {
                    self.open.get_or_insert(fresh(true)).explicit = true;
                    false
                }
                (x, y) if x == "XA" && y == "END" => false,
                (c, _) if c == "COMMIT" || c == "ROLLBACK" => true,
                (x, y) if x == "XA" && y == "PREPARE" => true,
                _ => match &self.open {
                    Some(o) => !o.explicit,
                    None => {
                        self.open = Some(fresh(false));
                        true
                    }
                },
            },
            Event::Xid(_) => true,
            // MySQL's XA_PREPARE event ends the prepared part.
            Event::Other { event_type, .. } => event_type.code() == 38,
            _ => false,
        };
        if !ends {
            return None;
        }
        let o = self.open.take()?;
        Some(Closed {
            start: o.start,
            end,
            time_us: o.time_us.unwrap_or(i64::from(ts) * 1_000_000),
            exact: o.time_us.is_some(),
        })
    }
}
