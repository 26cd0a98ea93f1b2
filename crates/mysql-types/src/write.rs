//! Little-endian writers, the inverse of [`crate::read`].

/// The protocol's length-encoded integer.
pub fn packed(out: &mut Vec<u8>, v: u64) {
    if v < 0xfb {
        out.push(v as u8);
    } else if v <= 0xffff {
        out.push(0xfc);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v <= 0xff_ffff {
        out.push(0xfd);
        out.extend_from_slice(v.to_le_bytes().get(..3).unwrap_or_default());
    } else {
        out.push(0xfe);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// The low `n` bytes of `v`, little-endian.
pub fn uint(out: &mut Vec<u8>, v: u64, n: usize) {
    out.extend_from_slice(v.to_le_bytes().get(..n.min(8)).unwrap_or_default());
}

/// The low `n` bytes of `v`, big-endian.
pub fn uint_be(out: &mut Vec<u8>, v: u64, n: usize) {
    let n = n.min(8);
    out.extend_from_slice(v.to_be_bytes().get(8 - n..).unwrap_or_default());
}

/// MySQL's serialization-format variable-length integer (the inverse of `Reader::varlen`):
/// the first byte's trailing ones say how many bytes follow.
pub fn varlen(out: &mut Vec<u8>, v: u64) {
    for extra in 0..8usize {
        if extra == 7 || v < 1u64 << (7 * (extra + 1)) {
            if extra == 7 && v >= 1u64 << 56 {
                break;
            }
            let x = (u128::from(v) << (extra + 1)) | ((1u128 << extra) - 1);
            out.extend_from_slice(x.to_le_bytes().get(..extra + 1).unwrap_or_default());
            return;
        }
    }
    out.push(0xff);
    out.extend_from_slice(&v.to_le_bytes());
}

/// The signed form (zigzag) of [`varlen`].
pub fn varlen_signed(out: &mut Vec<u8>, v: i64) {
    let u = if v >= 0 {
        (v as u64) << 1
    } else {
        ((-(v + 1)) as u64) << 1 | 1
    };
    varlen(out, u);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::Reader;

    #[test]
    fn varlen_round_trips() {
        for v in [
            0u64,
            1,
            127,
            128,
            16383,
            16384,
            1 << 40,
            (1 << 56) - 1,
            1 << 56,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            varlen(&mut b, v);
            assert_eq!(Reader::new(&b).varlen().unwrap(), v, "{v}");
        }
        for v in [0i64, -1, 1, -64, 63, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            varlen_signed(&mut b, v);
            assert_eq!(Reader::new(&b).varlen_signed().unwrap(), v, "{v}");
        }
    }
}
