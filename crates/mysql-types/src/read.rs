//! A bounds-checked little-endian reader: every decoder in this crate reads through it, so
//! hostile or truncated bytes give an error, never a panic.

/// Bytes ran out: `need` more were wanted at offset `at` of the structure being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short {
    /// Offset in the structure where the read started.
    pub at: usize,
    /// Bytes the read wanted.
    pub need: usize,
}

impl std::fmt::Display for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes wanted at byte {}", self.need, self.at)
    }
}

impl std::error::Error for Short {}

/// Reads fixed and variable width fields from a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let short = Short {
            at: self.pos,
            need: n,
        };
        let end = self.pos.checked_add(n).ok_or(short)?;
        let s = self.buf.get(self.pos..end).ok_or(short)?;
        self.pos = end;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), Short> {
        self.take(n).map(|_| ())
    }

    /// The next byte, without reading it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        s
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Result<u64, Short> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A little-endian i64.
    pub fn i64(&mut self) -> Result<i64, Short> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// An unsigned little-endian integer of `n` ≤ 8 bytes.
    pub fn uint(&mut self, n: usize) -> Result<u64, Short> {
        let s = self.take(n.min(8))?;
        Ok(s.iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// MySQL's serialization-library integer (tagged GTID events): the count of trailing
    /// one bits in the first byte tells how many more bytes follow; 0xff means 8 raw bytes.
    pub fn varlen(&mut self) -> Result<u64, Short> {
        let first = self.u8()?;
        let ones = first.trailing_ones() as usize;
        if ones == 8 {
            return self.u64();
        }
        let rest = self.uint(ones)?;
        let v = (u64::from(first) | rest << 8) >> (ones + 1);
        Ok(v)
    }

    /// The zig-zag signed form of [`Reader::varlen`].
    pub fn varlen_signed(&mut self) -> Result<i64, Short> {
        let u = self.varlen()?;
        let m = (u >> 1) as i64;
        Ok(if u & 1 != 0 { -m - 1 } else { m })
    }

    /// The protocol's length-encoded integer (1, 3, 4 or 9 bytes).
    pub fn packed(&mut self) -> Result<u64, Short> {
        match self.u8()? {
            0xfc => self.uint(2),
            0xfd => self.uint(3),
            0xfe => self.u64(),
            b => Ok(u64::from(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses_past_the_end() {
        let mut r = Reader::new(&[1, 2, 0, 0xfc, 0x10, 0x27, b'a', 0, 9]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(r.packed(), Ok(10000));
        assert_eq!(r.take(2), Ok(&b"a\0"[..]));
        assert_eq!(r.u32(), Err(Short { at: 8, need: 4 }));
        assert_eq!(r.u8(), Ok(9));
        assert_eq!(r.remaining(), 0);
        assert!(r.take(usize::MAX).is_err());
    }
}
