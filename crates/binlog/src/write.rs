//! Little-endian writers, the inverse of [`crate::read`].

/// The protocol's length-encoded integer.
pub(crate) fn packed(out: &mut Vec<u8>, v: u64) {
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
pub(crate) fn uint(out: &mut Vec<u8>, v: u64, n: usize) {
    out.extend_from_slice(v.to_le_bytes().get(..n.min(8)).unwrap_or_default());
}

/// The low `n` bytes of `v`, big-endian.
pub(crate) fn uint_be(out: &mut Vec<u8>, v: u64, n: usize) {
    let n = n.min(8);
    out.extend_from_slice(v.to_be_bytes().get(8 - n..).unwrap_or_default());
}
