//! Global transaction identifiers of both flavors behind one type.
//!
//! MySQL (5.6+): a GTID is `source_uuid[:tag]:gno`; a server's state is a set of intervals per
//! source (`gtid_executed`), tags since 8.4 (`uuid:tag:1-5`, lower-cased, at most 32
//! characters of `[a-z0-9_]`, not starting with a digit).
//!
//! MariaDB (10.0+): a GTID is `domain-server_id-seq`; a server's state (`gtid_current_pos`,
//! `gtid_binlog_pos`) is the last GTID per replication domain, a comma-separated list.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Which server family wrote something. Formats differ in GTIDs, binlog events and InnoDB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Oracle MySQL and compatible forks (Percona Server).
    MySql,
    /// MariaDB Server.
    MariaDb,
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavor::MySql => "MySQL",
            Flavor::MariaDb => "MariaDB",
        })
    }
}

/// Why text is not a GTID or GTID set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {what}: {reason}")]
pub struct GtidError {
    /// The text that was given (GTID text is never secret).
    pub text: String,
    /// What was expected, e.g. "MySQL GTID set".
    pub what: &'static str,
    /// What was wrong.
    pub reason: String,
}

fn err(text: &str, what: &'static str, reason: impl Into<String>) -> GtidError {
    GtidError {
        text: text.to_owned(),
        what,
        reason: reason.into(),
    }
}

/// A MySQL source id: the server UUID plus the optional tag of MySQL 8.4.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MySqlSid {
    /// The 16 bytes of the originating server's `server_uuid`.
    pub uuid: [u8; 16],
    /// Lower-cased tag, empty when untagged.
    pub tag: String,
}

impl MySqlSid {
    fn parse_uuid(s: &str) -> Option<[u8; 16]> {
        let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
        // Canonical form only: 8-4-4-4-12 hex digits.
        let groups: Vec<usize> = s.split('-').map(str::len).collect();
        if groups != [8, 4, 4, 4, 12] || hex.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (byte, pair) in out.iter_mut().zip(hex.chunks(2)) {
            let text = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(text, 16).ok()?;
        }
        Some(out)
    }

    fn valid_tag(tag: &str) -> bool {
        let mut chars = tag.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && tag.len() <= 32
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
}

impl fmt::Display for MySqlSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.uuid.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        if !self.tag.is_empty() {
            write!(f, ":{}", self.tag)?;
        }
        Ok(())
    }
}

/// One MySQL transaction id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MySqlGtid {
    /// Source id (UUID and tag).
    pub sid: MySqlSid,
    /// Transaction number, starting at 1.
    pub gno: u64,
}

/// One MariaDB transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MariaDbGtid {
    /// Replication domain.
    pub domain: u32,
    /// `server_id` of the server that originated the transaction.
    pub server_id: u32,
    /// Sequence number within the domain.
    pub seq: u64,
}

impl fmt::Display for MariaDbGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server_id, self.seq)
    }
}

impl FromStr for MariaDbGtid {
    type Err = GtidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "MariaDB GTID";
        let mut parts = s.trim().splitn(3, '-');
        let (Some(d), Some(sv), Some(q)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(err(s, WHAT, "expected DOMAIN-SERVER_ID-SEQ"));
        };
        let num = |t: &str, name: &str| -> Result<u64, GtidError> {
            t.parse()
                .map_err(|_| err(s, WHAT, format!("{name} {t:?} is not a number")))
        };
        let domain =
            u32::try_from(num(d, "domain")?).map_err(|_| err(s, WHAT, "domain exceeds 32 bits"))?;
        let server_id = u32::try_from(num(sv, "server id")?)
            .map_err(|_| err(s, WHAT, "server id exceeds 32 bits"))?;
        let seq = num(q, "sequence")?;
        Ok(Self {
            domain,
            server_id,
            seq,
        })
    }
}

/// A single transaction id of either flavor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Gtid {
    /// MySQL `uuid[:tag]:gno`.
    MySql(MySqlGtid),
    /// MariaDB `domain-server-seq`.
    MariaDb(MariaDbGtid),
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gtid::MySql(g) => write!(f, "{}:{}", g.sid, g.gno),
            Gtid::MariaDb(g) => g.fmt(f),
        }
    }
}

impl FromStr for Gtid {
    type Err = GtidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            let set = MySqlGtidSet::from_str(s)?;
            let mut it = set.sids.iter();
            match (it.next(), it.next()) {
                (Some((sid, iv)), None)
                    if iv.len() == 1 && iv.first().is_some_and(|r| r.0 == r.1) =>
                {
                    let gno = iv.first().map_or(0, |r| r.0);
                    Ok(Gtid::MySql(MySqlGtid {
                        sid: sid.clone(),
                        gno,
                    }))
                }
                _ => Err(err(
                    s,
                    "MySQL GTID",
                    "expected exactly one UUID[:TAG]:NUMBER",
                )),
            }
        } else {
            s.parse().map(Gtid::MariaDb)
        }
    }
}

/// A MySQL GTID set: for each source id, sorted, disjoint, non-adjacent inclusive intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MySqlGtidSet {
    sids: BTreeMap<MySqlSid, Vec<(u64, u64)>>,
}

impl MySqlGtidSet {
    /// Adds the inclusive interval `start..=end` for `sid`, merging with what is there.
    pub fn add_interval(&mut self, sid: MySqlSid, start: u64, end: u64) {
        let (start, end) = if start <= end {
            (start, end)
        } else {
            (end, start)
        };
        let ivs = self.sids.entry(sid).or_default();
        ivs.push((start, end));
        ivs.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ivs.len());
        for &(s, e) in ivs.iter() {
            match merged.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *ivs = merged;
    }

    /// Whether the set holds this transaction.
    pub fn contains(&self, gtid: &MySqlGtid) -> bool {
        self.sids
            .get(&gtid.sid)
            .is_some_and(|ivs| ivs.iter().any(|&(s, e)| s <= gtid.gno && gtid.gno <= e))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.sids.is_empty()
    }

    /// Number of transactions in the set (saturating).
    pub fn count(&self) -> u64 {
        self.sids
            .values()
            .flatten()
            .fold(0u64, |n, &(s, e)| n.saturating_add(e - s + 1))
    }
}

impl fmt::Display for MySqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (sid, ivs)) in self.sids.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{sid}")?;
            for &(s, e) in ivs {
                if s == e {
                    write!(f, ":{s}")?;
                } else {
                    write!(f, ":{s}-{e}")?;
                }
            }
        }
        Ok(())
    }
}

impl FromStr for MySqlGtidSet {
    type Err = GtidError;

    /// Parses `gtid_executed` text: `uuid(:tag|:n|:n-m)+`, sets separated by commas; the
    /// server prints a newline after each comma, so whitespace is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "MySQL GTID set";
        let mut set = MySqlGtidSet::default();
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Ok(set);
        }
        for part in compact.split(',') {
            let mut fields = part.split(':');
            let uuid_text = fields.next().unwrap_or_default();
            let uuid = MySqlSid::parse_uuid(uuid_text)
                .ok_or_else(|| err(s, WHAT, format!("{uuid_text:?} is not a UUID")))?;
            let mut tag = String::new();
            let mut any_interval = false;
            for field in fields {
                if field.starts_with(|c: char| c.is_ascii_digit()) {
                    let (a, b) = field.split_once('-').unwrap_or((field, field));
                    let parse = |t: &str| -> Result<u64, GtidError> {
                        t.parse()
                            .map_err(|_| err(s, WHAT, format!("{field:?} is not an interval")))
                    };
                    let (start, end) = (parse(a)?, parse(b)?);
                    if start == 0 || end < start {
                        return Err(err(s, WHAT, format!("{field:?} is not an interval")));
                    }
                    set.add_interval(
                        MySqlSid {
                            uuid,
                            tag: tag.clone(),
                        },
                        start,
                        end,
                    );
                    any_interval = true;
                } else if MySqlSid::valid_tag(field) {
                    tag = field.to_ascii_lowercase();
                } else {
                    return Err(err(
                        s,
                        WHAT,
                        format!("{field:?} is neither a tag nor an interval"),
                    ));
                }
            }
            if !any_interval {
                return Err(err(s, WHAT, format!("{uuid_text} has no interval")));
            }
        }
        Ok(set)
    }
}

/// The GTID state of a server, whichever flavor it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtidSet {
    /// MySQL interval sets.
    MySql(MySqlGtidSet),
    /// MariaDB: the last GTID per domain, sorted by domain.
    MariaDb(Vec<MariaDbGtid>),
}

impl GtidSet {
    /// The empty state of a flavor.
    pub fn empty(flavor: Flavor) -> Self {
        match flavor {
            Flavor::MySql => GtidSet::MySql(MySqlGtidSet::default()),
            Flavor::MariaDb => GtidSet::MariaDb(Vec::new()),
        }
    }

    /// Parses a server's GTID variable text for a known flavor (empty text is the empty set).
    pub fn parse(flavor: Flavor, text: &str) -> Result<Self, GtidError> {
        match flavor {
            Flavor::MySql => text.parse().map(GtidSet::MySql),
            Flavor::MariaDb => {
                let mut list = Vec::new();
                for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let g: MariaDbGtid = part.parse()?;
                    if list.iter().any(|o: &MariaDbGtid| o.domain == g.domain) {
                        return Err(err(
                            text,
                            "MariaDB GTID list",
                            format!("domain {} appears twice", g.domain),
                        ));
                    }
                    list.push(g);
                }
                list.sort_unstable();
                Ok(GtidSet::MariaDb(list))
            }
        }
    }

    /// The flavor this state belongs to.
    pub fn flavor(&self) -> Flavor {
        match self {
            GtidSet::MySql(_) => Flavor::MySql,
            GtidSet::MariaDb(_) => Flavor::MariaDb,
        }
    }

    /// Whether no transaction has been recorded.
    pub fn is_empty(&self) -> bool {
        match self {
            GtidSet::MySql(s) => s.is_empty(),
            GtidSet::MariaDb(l) => l.is_empty(),
        }
    }

    /// Records `gtid` as executed. A MariaDB domain keeps its latest GTID; a GTID of the
    /// other flavor is ignored.
    pub fn add(&mut self, gtid: &Gtid) {
        match (self, gtid) {
            (GtidSet::MySql(s), Gtid::MySql(g)) => s.add_interval(g.sid.clone(), g.gno, g.gno),
            (GtidSet::MariaDb(l), Gtid::MariaDb(g)) => {
                match l.iter_mut().find(|p| p.domain == g.domain) {
                    Some(p) => *p = *g,
                    None => {
                        l.push(*g);
                        l.sort_unstable();
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether the state includes `gtid`. For MariaDB a domain's position includes every
    /// earlier sequence number of that domain, whichever server wrote it.
    pub fn contains(&self, gtid: &Gtid) -> bool {
        match (self, gtid) {
            (GtidSet::MySql(s), Gtid::MySql(g)) => s.contains(g),
            (GtidSet::MariaDb(l), Gtid::MariaDb(g)) => {
                l.iter().any(|p| p.domain == g.domain && g.seq <= p.seq)
            }
            _ => false,
        }
    }
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtidSet::MySql(s) => s.fmt(f),
            GtidSet::MariaDb(l) => {
                for (i, g) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    g.fmt(f)?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for GtidSet {
    type Err = GtidError;

    /// Guesses the flavor from the shape (`:` only appears in MySQL sets). Empty text is
    /// ambiguous: use [`GtidSet::parse`] or [`GtidSet::empty`] with the flavor instead.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(err(s, "GTID set", "empty text does not tell the flavor"));
        }
        let flavor = if s.contains(':') {
            Flavor::MySql
        } else {
            Flavor::MariaDb
        };
        GtidSet::parse(flavor, s)
    }
}

impl Serialize for GtidSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn mysql_set_with_newlines_and_merging() {
        let text = format!("{U1}:1-5:6-9:20,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:3");
        let set: GtidSet = text.parse().unwrap();
        assert_eq!(
            set.to_string(),
            format!("{U1}:1-9:20,4e11fa47-71ca-11e1-9e33-c80aa9429562:3")
        );
        assert!(set.contains(&format!("{U1}:7").parse().unwrap()));
        assert!(!set.contains(&format!("{U1}:10").parse().unwrap()));
    }

    #[test]
    fn mysql_tags() {
        let set: GtidSet = format!("{U1}:1-3:Tag_A:1-2").parse().unwrap();
        assert_eq!(set.to_string(), format!("{U1}:1-3,{U1}:tag_a:1-2"));
        assert!(set.contains(&format!("{U1}:tag_a:2").parse().unwrap()));
        assert!(format!("{U1}:9bad:1").parse::<GtidSet>().is_err());
    }

    #[test]
    fn rejects_bad_text() {
        for bad in [
            "x:1",
            U1,
            &format!("{U1}:0"),
            &format!("{U1}:5-3"),
            "1-2",
            "a-b-c",
            "1-2-3,1-4-5",
        ] {
            assert!(bad.parse::<GtidSet>().is_err(), "{bad} should be rejected");
        }
        assert!(GtidSet::parse(Flavor::MySql, "").unwrap().is_empty());
        assert!(GtidSet::parse(Flavor::MariaDb, "").unwrap().is_empty());
    }

    #[test]
    fn mariadb_list() {
        let set: GtidSet = "1-2-7, 0-1-100".parse().unwrap();
        assert_eq!(set.to_string(), "0-1-100,1-2-7");
        assert!(set.contains(&"0-5-99".parse().unwrap()));
        assert!(!set.contains(&"1-2-8".parse().unwrap()));
    }

    fn mysql_set() -> impl Strategy<Value = MySqlGtidSet> {
        let sid = (
            any::<[u8; 16]>(),
            prop_oneof![Just(String::new()), "[a-z_][a-z0-9_]{0,31}"],
        );
        proptest::collection::vec((sid, 1u64..1_000_000, 0u64..1000), 0..8).prop_map(|v| {
            let mut set = MySqlGtidSet::default();
            for ((uuid, tag), start, len) in v {
                set.add_interval(MySqlSid { uuid, tag }, start, start + len);
            }
            set
        })
    }

    proptest! {
        #[test]
        fn mysql_round_trip(set in mysql_set()) {
            let text = set.to_string();
            let back: MySqlGtidSet = text.parse().unwrap();
            prop_assert_eq!(back, set);
        }

        #[test]
        fn mariadb_round_trip(v in proptest::collection::btree_map(any::<u32>(), (any::<u32>(), any::<u64>()), 0..6)) {
            let list: Vec<MariaDbGtid> = v.into_iter().map(|(domain, (server_id, seq))| MariaDbGtid { domain, server_id, seq }).collect();
            let set = GtidSet::MariaDb(list);
            let back = GtidSet::parse(Flavor::MariaDb, &set.to_string()).unwrap();
            prop_assert_eq!(back, set);
        }

        #[test]
        fn never_panics(s in "\\PC{0,64}") {
            let _ = s.parse::<GtidSet>();
            let _ = s.parse::<Gtid>();
        }
    }
}
