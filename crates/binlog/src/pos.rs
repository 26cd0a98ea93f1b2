//! Binary log coordinates: `file:position`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A position in a server's binary log: the file name (no directory) and a byte offset in it.
///
/// Offsets follow the server's convention: the offset of the *next* event to read, so the
/// value `SHOW MASTER STATUS` prints is the end of the last written event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BinlogPos {
    /// File name as the server reports it, e.g. `mysql-bin.000042`.
    pub file: String,
    /// Byte offset in that file.
    pub pos: u64,
}

impl BinlogPos {
    /// A position from its parts.
    pub fn new(file: impl Into<String>, pos: u64) -> Self {
        Self {
            file: file.into(),
            pos,
        }
    }
}

impl BinlogPos {
    /// The sequence number of a binlog file name (`binlog.000042` → 42).
    pub fn file_sequence(file: &str) -> Option<u64> {
        file.rsplit_once('.').and_then(|(_, n)| n.parse().ok())
    }

    fn key(&self) -> (Option<u64>, &str, u64) {
        (Self::file_sequence(&self.file), &self.file, self.pos)
    }
}

/// Positions of one server's binlog order by file sequence number, then offset.
impl Ord for BinlogPos {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for BinlogPos {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for BinlogPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// Why text is not a `FILE:POS` binlog position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a binlog position (expected FILE:POS, e.g. mysql-bin.000042:1234)")]
pub struct PosError {
    /// The text that was given.
    pub text: String,
}

impl FromStr for BinlogPos {
    type Err = PosError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PosError { text: s.to_owned() };
        let (file, pos) = s.rsplit_once(':').ok_or_else(err)?;
        if file.is_empty() || file.contains('/') {
            return Err(err());
        }
        let pos = pos.trim().parse().map_err(|_| err())?;
        Ok(Self::new(file, pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p: BinlogPos = "mysql-bin.000042:1234".parse().unwrap();
        assert_eq!(p, BinlogPos::new("mysql-bin.000042", 1234));
        assert_eq!(p.to_string(), "mysql-bin.000042:1234");
        assert!("nofile".parse::<BinlogPos>().is_err());
        assert!(":12".parse::<BinlogPos>().is_err());
        assert!("a:-1".parse::<BinlogPos>().is_err());
        let a = BinlogPos::new("b.000009", 900);
        let b = BinlogPos::new("b.000010", 4);
        assert!(a < b, "by sequence number, not text");
        assert!(BinlogPos::new("b.000010", 5) > b);
    }
}
