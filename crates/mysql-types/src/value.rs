//! Column values in row images: decoding from and encoding to the binlog's storage format,
//! and rendering as text.
//!
//! Values keep what is needed to encode them back bit for bit: integers as their raw bits
//! (signedness is a column property), floats as floats, DECIMAL as its digit string,
//! temporals as fields, strings and documents as bytes.

use crate::column::{Column, column_type as ct};
use crate::json::{self, JsonDiff};
use crate::read::{Reader, Short};
use crate::write;

/// A calendar date (zero fields allowed, as MySQL allows `0000-00-00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// Year 0–9999.
    pub year: u16,
    /// Month 0–12.
    pub month: u8,
    /// Day 0–31.
    pub day: u8,
}

/// A date and time of day with microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// The date.
    pub date: Date,
    /// Hour 0–23.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
    /// Microseconds.
    pub micros: u32,
}

/// A TIME value: a signed duration up to 838:59:59.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    /// Below zero.
    pub negative: bool,
    /// Hours 0–838 (up to 1023 in the format).
    pub hours: u16,
    /// Minutes.
    pub minutes: u8,
    /// Seconds.
    pub seconds: u8,
    /// Microseconds.
    pub micros: u32,
}

/// One column value of a row image.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// Any integer type: the raw bits of the column's width, zero-extended.
    Int(u64),
    /// FLOAT.
    Float(f32),
    /// DOUBLE.
    Double(f64),
    /// DECIMAL as text (`-12.50`).
    Decimal(String),
    /// YEAR (0 or 1901–2155).
    Year(u16),
    /// DATE.
    Date(Date),
    /// TIME.
    Time(Time),
    /// DATETIME.
    DateTime(DateTime),
    /// TIMESTAMP: seconds since the epoch (0 is the zero timestamp) and microseconds.
    Timestamp {
        /// Seconds.
        seconds: u32,
        /// Microseconds.
        micros: u32,
    },
    /// BIT, as an unsigned number.
    Bit(u64),
    /// ENUM: 1-based member index (0 is the empty error value).
    Enum(u16),
    /// SET: member bitmap.
    Set(u64),
    /// CHAR, VARCHAR, TEXT, BLOB: bytes in the column's charset.
    Bytes(&'a [u8]),
    /// MySQL JSON in its binary form.
    Json(&'a [u8]),
    /// A partial JSON update (PARTIAL_UPDATE_ROWS after images).
    JsonDiff(Vec<JsonDiff<'a>>),
    /// GEOMETRY: SRID (4 bytes) then WKB.
    Geometry(&'a [u8]),
    /// VECTOR: little-endian FLOAT32s.
    Vector(&'a [u8]),
}

/// Bytes holding a group of `digits` (< 9) decimal digits.
fn dig2bytes(digits: usize) -> usize {
    (digits % 9).div_ceil(2)
}

fn decimal_size(precision: u8, scale: u8) -> usize {
    let intg = usize::from(precision - scale);
    let s = usize::from(scale);
    (intg / 9) * 4 + dig2bytes(intg % 9) + (s / 9) * 4 + dig2bytes(s % 9)
}

fn check_decimal(precision: u8, scale: u8) -> Result<(), String> {
    if precision == 0 || precision > 65 || scale > 38 || scale > precision {
        return Err(format!("DECIMAL({precision},{scale}) is not a valid type"));
    }
    Ok(())
}

/// Decodes a binary DECIMAL at the start of `b`: its text and its size in bytes.
pub fn decimal_from(b: &[u8], precision: u8, scale: u8) -> Result<(String, usize), String> {
    check_decimal(precision, scale)?;
    let size = decimal_size(precision, scale);
    let raw = b
        .get(..size)
        .ok_or_else(|| format!("DECIMAL needs {size} bytes, {} left", b.len()))?;
    let negative = raw.first().is_some_and(|&x| x & 0x80 == 0);
    let mask = if negative { 0xff } else { 0 };
    let mut bytes: Vec<u8> = raw.iter().map(|&x| x ^ mask).collect();
    if let Some(first) = bytes.first_mut() {
        *first ^= 0x80;
    }
    let intg = usize::from(precision - scale);
    let s = usize::from(scale);
    let mut r = Reader::new(&bytes);
    let group = |r: &mut Reader<'_>, n: usize| -> Result<u64, String> {
        let g = r.take(n).map_err(|e| e.to_string())?;
        Ok(g.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    };
    let mut int_part = String::new();
    let lead = dig2bytes(intg % 9);
    if lead > 0 {
        let v = group(&mut r, lead)?;
        int_part.push_str(&v.to_string());
    }
    for _ in 0..intg / 9 {
        let v = group(&mut r, 4)?;
        if v > 999_999_999 {
            return Err(format!("DECIMAL digit group {v} exceeds 9 digits"));
        }
        int_part.push_str(&format!("{v:09}"));
    }
    let trimmed = int_part.trim_start_matches('0');
    let mut text = String::new();
    if negative {
        text.push('-');
    }
    text.push_str(if trimmed.is_empty() { "0" } else { trimmed });
    if s > 0 {
        text.push('.');
        for _ in 0..s / 9 {
            let v = group(&mut r, 4)?;
            if v > 999_999_999 {
                return Err(format!("DECIMAL digit group {v} exceeds 9 digits"));
            }
            text.push_str(&format!("{v:09}"));
        }
        let tail = s % 9;
        if tail > 0 {
            let v = group(&mut r, dig2bytes(tail))?;
            text.push_str(&format!("{v:0tail$}"));
        }
    }
    Ok((text, size))
}

/// Encodes DECIMAL text (`-12.50`, as the server prints it) in its binary storage form.
pub fn decimal_to(text: &str, precision: u8, scale: u8, out: &mut Vec<u8>) -> Result<(), String> {
    check_decimal(precision, scale)?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_digits, frac_digits) = digits.split_once('.').unwrap_or((digits, ""));
    let intg = usize::from(precision - scale);
    let s = usize::from(scale);
    if !int_digits.bytes().all(|c| c.is_ascii_digit())
        || !frac_digits.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(format!("`{text}` is not a decimal number"));
    }
    let int_digits = int_digits.trim_start_matches('0');
    if int_digits.len() > intg || frac_digits.len() > s {
        return Err(format!(
            "`{text}` does not fit DECIMAL({precision},{scale})"
        ));
    }
    let int_padded = format!("{int_digits:0>intg$}");
    let frac_padded = format!("{frac_digits:0<s$}");
    let start = out.len();
    let push = |out: &mut Vec<u8>, digits: &str, n: usize| {
        let v: u64 = digits.parse().unwrap_or(0);
        write::uint_be(out, v, n);
    };
    let lead = intg % 9;
    push(out, int_padded.get(..lead).unwrap_or(""), dig2bytes(lead));
    for i in 0..intg / 9 {
        push(
            out,
            int_padded.get(lead + 9 * i..lead + 9 * i + 9).unwrap_or(""),
            4,
        );
    }
    for i in 0..s / 9 {
        push(out, frac_padded.get(9 * i..9 * i + 9).unwrap_or(""), 4);
    }
    let tail = s % 9;
    push(
        out,
        frac_padded.get(s - tail..).unwrap_or(""),
        dig2bytes(tail),
    );
    if let Some(first) = out.get_mut(start) {
        *first ^= 0x80;
    }
    if negative {
        for b in out.iter_mut().skip(start) {
            *b ^= 0xff;
        }
    }
    Ok(())
}

fn frac_bytes(fsp: u16) -> usize {
    usize::from(fsp).div_ceil(2)
}

fn check_fsp(fsp: u16) -> Result<(), String> {
    if fsp > 6 {
        Err(format!("fractional-second precision {fsp} is above 6"))
    } else {
        Ok(())
    }
}

fn be(r: &mut Reader<'_>, n: usize) -> Result<u64, Short> {
    let b = r.take(n)?;
    Ok(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

fn sign_extend(v: u64, bytes: usize) -> i64 {
    let shift = 64 - 8 * bytes as u32;
    ((v << shift) as i64) >> shift
}

/// A packed TIME (`hms << 24 | micros`, negated when negative) as fields.
fn time_from_packed(packed: i64) -> Time {
    let p = packed.unsigned_abs();
    let hms = p >> 24;
    let t = Time {
        negative: false,
        hours: ((hms >> 12) % (1 << 10)) as u16,
        minutes: ((hms >> 6) % 64) as u8,
        seconds: (hms % 64) as u8,
        micros: (p % (1 << 24)) as u32,
    };
    // Bits outside the fields can make a negative value read as zero: a zero TIME has no
    // sign (a server writes -00:00:00 as 0).
    let zero = (t.hours, t.minutes, t.seconds, t.micros) == (0, 0, 0, 0);
    Time {
        negative: packed < 0 && !zero,
        ..t
    }
}

fn time_to_packed(t: &Time) -> i64 {
    let hms = (i64::from(t.hours) << 12) | (i64::from(t.minutes) << 6) | i64::from(t.seconds);
    let p = (hms << 24) + i64::from(t.micros);
    if t.negative { -p } else { p }
}

fn datetime_from_packed(packed: i64) -> DateTime {
    let p = packed.unsigned_abs();
    let int = p >> 24;
    let ymd = int >> 17;
    let ym = ymd >> 5;
    let hms = int % (1 << 17);
    DateTime {
        date: Date {
            year: (ym / 13) as u16,
            month: (ym % 13) as u8,
            day: (ymd % 32) as u8,
        },
        hour: (hms >> 12) as u8,
        minute: ((hms >> 6) % 64) as u8,
        second: (hms % 64) as u8,
        micros: (p % (1 << 24)) as u32,
    }
}

fn datetime_to_packed(d: &DateTime) -> i64 {
    let ym = i64::from(d.date.year) * 13 + i64::from(d.date.month);
    let ymd = (ym << 5) | i64::from(d.date.day);
    let hms = (i64::from(d.hour) << 12) | (i64::from(d.minute) << 6) | i64::from(d.second);
    (((ymd << 17) | hms) << 24) + i64::from(d.micros)
}

/// Text of a packed temporal as JSON documents store them (`field_type` picks the form).
pub fn packed_temporal_text(field_type: u8, packed: i64) -> String {
    match field_type {
        ct::TIME => time_text(&time_from_packed(packed), 6),
        ct::DATE => date_text(&datetime_from_packed(packed).date),
        _ => datetime_text(&datetime_from_packed(packed), 6),
    }
}

fn frac_text(micros: u32, fsp: u16) -> String {
    if fsp == 0 {
        return String::new();
    }
    let s = format!("{micros:06}");
    format!(".{}", s.get(..usize::from(fsp.min(6))).unwrap_or(&s))
}

fn date_text(d: &Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

fn datetime_text(d: &DateTime, fsp: u16) -> String {
    format!(
        "{} {:02}:{:02}:{:02}{}",
        date_text(&d.date),
        d.hour,
        d.minute,
        d.second,
        frac_text(d.micros, fsp)
    )
}

fn time_text(t: &Time, fsp: u16) -> String {
    format!(
        "{}{:02}:{:02}:{:02}{}",
        if t.negative { "-" } else { "" },
        t.hours,
        t.minutes,
        t.seconds,
        frac_text(t.micros, fsp)
    )
}

/// Days since 1970-01-01 to a civil date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A TIMESTAMP as a UTC datetime (the zero timestamp as `0000-00-00 00:00:00`).
pub fn timestamp_utc(seconds: u32, micros: u32) -> DateTime {
    if seconds == 0 && micros == 0 {
        return DateTime {
            date: Date {
                year: 0,
                month: 0,
                day: 0,
            },
            hour: 0,
            minute: 0,
            second: 0,
            micros: 0,
        };
    }
    let s = i64::from(seconds);
    let (y, m, d) = civil_from_days(s.div_euclid(86_400));
    let rem = s.rem_euclid(86_400);
    DateTime {
        date: Date {
            year: y as u16,
            month: m as u8,
            day: d as u8,
        },
        hour: (rem / 3600) as u8,
        minute: (rem / 60 % 60) as u8,
        second: (rem % 60) as u8,
        micros,
    }
}

/// How a value reads as text: a number, text, or bytes that are not text.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    /// SQL NULL.
    Null,
    /// A number literal (integers, DECIMAL, floats, YEAR, BIT).
    Number(String),
    /// Text (strings in a known or UTF-8 charset, temporals, JSON text, ENUM/SET names).
    Text(String),
    /// Bytes (binary strings, geometry, text not valid in its charset).
    Binary(Vec<u8>),
}

/// Latin-1 collations: their text maps to characters byte for byte.
pub fn is_latin1(collation: u16) -> bool {
    matches!(collation, 5 | 8 | 15 | 31 | 47 | 48 | 49 | 94)
}

fn float_text(v: f64, as_f32: Option<f32>) -> String {
    let a = v.abs();
    let sci = a != 0.0 && !(1e-5..1e16).contains(&a);
    match (as_f32, sci) {
        (Some(f), true) => format!("{f:e}"),
        (Some(f), false) => format!("{f}"),
        (None, true) => format!("{v:e}"),
        (None, false) => format!("{v}"),
    }
}

impl Value<'_> {
    /// The same value bit for bit: as `==`, except that FLOAT and DOUBLE compare their bits
    /// (a NaN is itself; -0.0 is not 0.0), as an encoder that writes them back must keep them.
    pub fn identical(&self, other: &Value<'_>) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Double(a), Value::Double(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

impl Value<'_> {
    /// Reads one non-NULL value of `col` from the start of `bytes`, in the binary format
    /// row events use (InnoDB stores DECIMAL, the fractional temporals, YEAR, BIT, FLOAT and
    /// DOUBLE the same way); returns it and the bytes it took.
    pub fn decode_slice<'a>(col: &Column, bytes: &'a [u8]) -> Result<(Value<'a>, usize), String> {
        let mut r = Reader::new(bytes);
        let v = Value::decode(col, &mut r, false)?;
        Ok((v, bytes.len().saturating_sub(r.remaining())))
    }

    /// Reads one non-NULL value of `col` (`partial`: a JSON column in partial form).
    pub fn decode<'a>(
        col: &Column,
        r: &mut Reader<'a>,
        partial: bool,
    ) -> Result<Value<'a>, String> {
        let sh = |e: Short| format!("truncated value: {e}");
        let m = col.meta;
        Ok(match col.real_type {
            ct::TINY => Value::Int(r.uint(1).map_err(sh)?),
            ct::SHORT => Value::Int(r.uint(2).map_err(sh)?),
            ct::INT24 => Value::Int(r.uint(3).map_err(sh)?),
            ct::LONG => Value::Int(r.uint(4).map_err(sh)?),
            ct::LONGLONG => Value::Int(r.uint(8).map_err(sh)?),
            ct::FLOAT => Value::Float(f32::from_bits(r.u32().map_err(sh)?)),
            ct::DOUBLE => Value::Double(f64::from_bits(r.u64().map_err(sh)?)),
            ct::NEWDECIMAL => {
                let (p, s) = ((m >> 8) as u8, (m & 0xff) as u8);
                check_decimal(p, s)?;
                let raw = r.take(decimal_size(p, s)).map_err(sh)?;
                Value::Decimal(decimal_from(raw, p, s)?.0)
            }
            ct::YEAR => {
                let y = r.u8().map_err(sh)?;
                Value::Year(if y == 0 { 0 } else { 1900 + u16::from(y) })
            }
            ct::DATE | ct::NEWDATE => {
                let v = r.uint(3).map_err(sh)?;
                Value::Date(Date {
                    year: (v >> 9) as u16,
                    month: ((v >> 5) & 15) as u8,
                    day: (v & 31) as u8,
                })
            }
            ct::TIME => {
                let v = sign_extend(r.uint(3).map_err(sh)?, 3);
                let a = v.unsigned_abs();
                Value::Time(Time {
                    negative: v < 0,
                    hours: (a / 10_000) as u16,
                    minutes: (a / 100 % 100) as u8,
                    seconds: (a % 100) as u8,
                    micros: 0,
                })
            }
            ct::DATETIME => {
                let v = r.u64().map_err(sh)?;
                let (d, t) = (v / 1_000_000, v % 1_000_000);
                Value::DateTime(DateTime {
                    date: Date {
                        year: (d / 10_000) as u16,
                        month: (d / 100 % 100) as u8,
                        day: (d % 100) as u8,
                    },
                    hour: (t / 10_000) as u8,
                    minute: (t / 100 % 100) as u8,
                    second: (t % 100) as u8,
                    micros: 0,
                })
            }
            ct::TIMESTAMP => Value::Timestamp {
                seconds: r.u32().map_err(sh)?,
                micros: 0,
            },
            ct::TIMESTAMP2 => {
                check_fsp(m)?;
                let seconds = be(r, 4).map_err(sh)? as u32;
                let f = be(r, frac_bytes(m)).map_err(sh)?;
                let micros = match frac_bytes(m) {
                    1 => f * 10_000,
                    2 => f * 100,
                    _ => f,
                } as u32;
                if micros >= 1_000_000 {
                    return Err(format!("TIMESTAMP fraction {micros} is out of range"));
                }
                Value::Timestamp { seconds, micros }
            }
            ct::DATETIME2 => {
                check_fsp(m)?;
                let int = be(r, 5).map_err(sh)? as i64 - 0x80_0000_0000;
                let n = frac_bytes(m);
                let frac = sign_extend(be(r, n).map_err(sh)?, n.max(1));
                let frac = match n {
                    0 => 0,
                    1 => frac * 10_000,
                    2 => frac * 100,
                    _ => frac,
                };
                if !(0..1_000_000).contains(&frac) || int < 0 {
                    return Err(format!("DATETIME {int}.{frac} is out of range"));
                }
                Value::DateTime(datetime_from_packed((int << 24) + frac))
            }
            ct::TIME2 => {
                check_fsp(m)?;
                let packed = match frac_bytes(m) {
                    0 => (be(r, 3).map_err(sh)? as i64 - 0x80_0000) << 24,
                    1 | 2 => {
                        let n = frac_bytes(m);
                        let mut int = be(r, 3).map_err(sh)? as i64 - 0x80_0000;
                        let mut frac = be(r, n).map_err(sh)? as i64;
                        if int < 0 && frac != 0 {
                            // Negative values borrow one second from the integer part.
                            int += 1;
                            frac -= 1 << (8 * n);
                        }
                        (int << 24) + frac * if n == 1 { 10_000 } else { 100 }
                    }
                    _ => be(r, 6).map_err(sh)? as i64 - 0x8000_0000_0000,
                };
                let t = time_from_packed(packed);
                if t.micros >= 1_000_000 {
                    return Err(format!("TIME fraction {} is out of range", t.micros));
                }
                Value::Time(t)
            }
            ct::BIT => {
                let n = usize::from(m >> 8) + usize::from(m & 0xff != 0);
                if n > 8 {
                    return Err(format!("BIT of {n} bytes"));
                }
                Value::Bit(be(r, n).map_err(sh)?)
            }
            ct::ENUM => match m & 0xff {
                1 => Value::Enum(u16::from(r.u8().map_err(sh)?)),
                2 => Value::Enum(r.u16().map_err(sh)?),
                n => return Err(format!("ENUM of {n} bytes")),
            },
            ct::SET => {
                let n = usize::from(m & 0xff);
                if n > 8 {
                    return Err(format!("SET of {n} bytes"));
                }
                Value::Set(r.uint(n).map_err(sh)?)
            }
            ct::VARCHAR | ct::VAR_STRING | ct::STRING => {
                let len = r.uint(if m > 255 { 2 } else { 1 }).map_err(sh)?;
                Value::Bytes(r.take(len as usize).map_err(sh)?)
            }
            ct::BLOB
            | ct::TINY_BLOB
            | ct::MEDIUM_BLOB
            | ct::LONG_BLOB
            | ct::GEOMETRY
            | ct::JSON
            | ct::VECTOR => {
                if !(1..=4).contains(&m) {
                    return Err(format!("{}-byte length prefix", m));
                }
                let len = r.uint(usize::from(m)).map_err(sh)?;
                let b = r.take(len as usize).map_err(sh)?;
                match col.real_type {
                    ct::GEOMETRY => Value::Geometry(b),
                    ct::VECTOR => Value::Vector(b),
                    ct::JSON if partial => Value::JsonDiff(json::parse_diffs(b)?),
                    ct::JSON => Value::Json(b),
                    _ => Value::Bytes(b),
                }
            }
            other => {
                return Err(format!(
                    "column type {other} ({}) cannot be decoded",
                    ct::name(other)
                ));
            }
        })
    }

    /// Writes the value in `col`'s storage format (the inverse of [`Value::decode`]).
    pub fn encode(&self, col: &Column, out: &mut Vec<u8>) -> Result<(), String> {
        let m = col.meta;
        let mismatch = || {
            format!(
                "a {self:?} value does not fit a {} column",
                ct::name(col.real_type)
            )
        };
        match (col.real_type, self) {
            (_, Value::Null) => {}
            (ct::TINY, Value::Int(v)) => write::uint(out, *v, 1),
            (ct::SHORT, Value::Int(v)) => write::uint(out, *v, 2),
            (ct::INT24, Value::Int(v)) => write::uint(out, *v, 3),
            (ct::LONG, Value::Int(v)) => write::uint(out, *v, 4),
            (ct::LONGLONG, Value::Int(v)) => write::uint(out, *v, 8),
            (ct::FLOAT, Value::Float(f)) => out.extend_from_slice(&f.to_bits().to_le_bytes()),
            (ct::DOUBLE, Value::Double(f)) => out.extend_from_slice(&f.to_bits().to_le_bytes()),
            (ct::NEWDECIMAL, Value::Decimal(t)) => {
                decimal_to(t, (m >> 8) as u8, (m & 0xff) as u8, out)?
            }
            (ct::YEAR, Value::Year(y)) => out.push(if *y == 0 {
                0
            } else {
                y.saturating_sub(1900) as u8
            }),
            (ct::DATE | ct::NEWDATE, Value::Date(d)) => write::uint(
                out,
                (u64::from(d.year) << 9) | (u64::from(d.month) << 5) | u64::from(d.day),
                3,
            ),
            (ct::TIME, Value::Time(t)) => {
                let v =
                    i64::from(t.hours) * 10_000 + i64::from(t.minutes) * 100 + i64::from(t.seconds);
                write::uint(out, (if t.negative { -v } else { v }) as u64, 3);
            }
            (ct::DATETIME, Value::DateTime(d)) => {
                let date = u64::from(d.date.year) * 10_000
                    + u64::from(d.date.month) * 100
                    + u64::from(d.date.day);
                let time =
                    u64::from(d.hour) * 10_000 + u64::from(d.minute) * 100 + u64::from(d.second);
                write::uint(out, date * 1_000_000 + time, 8);
            }
            (ct::TIMESTAMP, Value::Timestamp { seconds, .. }) => {
                write::uint(out, u64::from(*seconds), 4)
            }
            (ct::TIMESTAMP2, Value::Timestamp { seconds, micros }) => {
                check_fsp(m)?;
                write::uint_be(out, u64::from(*seconds), 4);
                let f = u64::from(*micros);
                match frac_bytes(m) {
                    0 => {}
                    1 => write::uint_be(out, f / 10_000, 1),
                    2 => write::uint_be(out, f / 100, 2),
                    _ => write::uint_be(out, f, 3),
                }
            }
            (ct::DATETIME2, Value::DateTime(d)) => {
                check_fsp(m)?;
                let packed = datetime_to_packed(d);
                write::uint_be(out, ((packed >> 24) + 0x80_0000_0000) as u64, 5);
                let frac = packed % (1 << 24);
                match frac_bytes(m) {
                    0 => {}
                    1 => write::uint_be(out, (frac / 10_000) as u64, 1),
                    2 => write::uint_be(out, (frac / 100) as u64, 2),
                    _ => write::uint_be(out, frac as u64, 3),
                }
            }
            (ct::TIME2, Value::Time(t)) => {
                check_fsp(m)?;
                let packed = time_to_packed(t);
                match frac_bytes(m) {
                    0 => write::uint_be(out, ((packed >> 24) + 0x80_0000) as u64, 3),
                    n @ (1 | 2) => {
                        write::uint_be(out, ((packed >> 24) + 0x80_0000) as u64, 3);
                        let frac = (packed % (1 << 24)) / if n == 1 { 10_000 } else { 100 };
                        write::uint_be(out, frac as u64, n);
                    }
                    _ => write::uint_be(out, (packed + 0x8000_0000_0000) as u64, 6),
                }
            }
            (ct::BIT, Value::Bit(v)) => {
                let n = usize::from(m >> 8) + usize::from(m & 0xff != 0);
                write::uint_be(out, *v, n);
            }
            (ct::ENUM, Value::Enum(v)) => write::uint(out, u64::from(*v), usize::from(m & 0xff)),
            (ct::SET, Value::Set(v)) => write::uint(out, *v, usize::from(m & 0xff)),
            (ct::VARCHAR | ct::VAR_STRING | ct::STRING, Value::Bytes(b)) => {
                write::uint(out, b.len() as u64, if m > 255 { 2 } else { 1 });
                out.extend_from_slice(b);
            }
            (
                ct::BLOB
                | ct::TINY_BLOB
                | ct::MEDIUM_BLOB
                | ct::LONG_BLOB
                | ct::GEOMETRY
                | ct::JSON
                | ct::VECTOR,
                Value::Bytes(b) | Value::Json(b) | Value::Geometry(b) | Value::Vector(b),
            ) => {
                write::uint(out, b.len() as u64, usize::from(m));
                out.extend_from_slice(b);
            }
            (ct::JSON, Value::JsonDiff(diffs)) => {
                let mut body = Vec::new();
                json::encode_diffs(diffs, &mut body);
                write::uint(out, body.len() as u64, usize::from(m));
                out.extend_from_slice(&body);
            }
            _ => return Err(mismatch()),
        }
        Ok(())
    }

    /// An integer value (integer types, YEAR, BIT) read with the column's signedness: the
    /// signed reading unless the binlog says the column is unsigned.
    pub fn integer(&self, col: &Column) -> Option<i128> {
        match self {
            Value::Int(v) if col.unsigned == Some(true) => Some(i128::from(*v)),
            Value::Int(v) => {
                let bytes = match col.real_type {
                    ct::TINY => 1,
                    ct::SHORT => 2,
                    ct::INT24 => 3,
                    ct::LONG => 4,
                    _ => 8,
                };
                Some(i128::from(sign_extend(*v, bytes)))
            }
            Value::Year(y) => Some(i128::from(*y)),
            Value::Bit(b) => Some(i128::from(*b)),
            _ => None,
        }
    }

    /// The value as a number, text or bytes, read through `col`'s type, signedness, charset
    /// and ENUM/SET members.
    pub fn render(&self, col: &Column) -> Rendered {
        let fsp = match col.real_type {
            ct::TIME2 | ct::DATETIME2 | ct::TIMESTAMP2 => col.meta.min(6),
            _ => 0,
        };
        match self {
            Value::Null => Rendered::Null,
            Value::Int(_) => Rendered::Number(self.integer(col).unwrap_or_default().to_string()),
            Value::Float(f) => Rendered::Number(float_text(f64::from(*f), Some(*f))),
            Value::Double(d) => Rendered::Number(float_text(*d, None)),
            Value::Decimal(t) => Rendered::Number(t.clone()),
            Value::Year(y) => Rendered::Number(y.to_string()),
            Value::Bit(v) => Rendered::Number(v.to_string()),
            Value::Date(d) => Rendered::Text(date_text(d)),
            Value::Time(t) => Rendered::Text(time_text(t, fsp)),
            Value::DateTime(d) => Rendered::Text(datetime_text(d, fsp)),
            Value::Timestamp { seconds, micros } => {
                Rendered::Text(datetime_text(&timestamp_utc(*seconds, *micros), fsp))
            }
            Value::Enum(i) => match &col.elements {
                Some(_) if *i == 0 => Rendered::Text(String::new()),
                Some(els) => match els.get(usize::from(*i) - 1) {
                    Some(e) => Rendered::Text(String::from_utf8_lossy(e).into_owned()),
                    None => Rendered::Number(i.to_string()),
                },
                None => Rendered::Number(i.to_string()),
            },
            Value::Set(bits) => match &col.elements {
                Some(els) => {
                    let names: Vec<String> = els
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| *k < 64 && bits & (1u64 << k) != 0)
                        .map(|(_, e)| String::from_utf8_lossy(e).into_owned())
                        .collect();
                    Rendered::Text(names.join(","))
                }
                None => Rendered::Number(bits.to_string()),
            },
            Value::Bytes(b) => match col.collation {
                Some(crate::column::BINARY_COLLATION) => Rendered::Binary(b.to_vec()),
                Some(c) if is_latin1(c) => {
                    Rendered::Text(b.iter().map(|&x| char::from(x)).collect())
                }
                _ => match std::str::from_utf8(b) {
                    Ok(s) => Rendered::Text(s.to_owned()),
                    Err(_) => Rendered::Binary(b.to_vec()),
                },
            },
            Value::Json(b) => match json::to_text(b) {
                Ok(t) => Rendered::Text(t),
                Err(_) => Rendered::Binary(b.to_vec()),
            },
            Value::JsonDiff(d) => match json::diffs_text(
                &col.name
                    .as_ref()
                    .map_or_else(|| "`column`".into(), |n| format!("`{n}`")),
                d,
            ) {
                Ok(t) => Rendered::Text(t),
                Err(e) => Rendered::Text(format!("/* undecodable JSON diff: {e} */")),
            },
            Value::Geometry(b) | Value::Vector(b) => Rendered::Binary(b.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn col(real_type: u8, meta: u16) -> Column {
        Column::new(real_type, real_type, meta, true)
    }

    fn round_trip(c: &Column, v: &Value<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        v.encode(c, &mut out).unwrap();
        let mut r = Reader::new(&out);
        let back = Value::decode(c, &mut r, false).unwrap();
        assert_eq!(&back, v, "{c:?}");
        assert_eq!(r.remaining(), 0);
        out
    }

    #[test]
    fn known_encodings() {
        // DECIMAL(10,2) -12345678.91 as MySQL documents the layout.
        let c = col(ct::NEWDECIMAL, 10 << 8 | 2);
        let b = round_trip(&c, &Value::Decimal("-12345678.91".into()));
        assert_eq!(b.len(), 5);
        // TIME(6) -00:00:00.000001.
        let c = col(ct::TIME2, 6);
        let t = Time {
            negative: true,
            hours: 0,
            minutes: 0,
            seconds: 0,
            micros: 1,
        };
        round_trip(&c, &Value::Time(t));
        assert_eq!(
            Value::Time(t).render(&c),
            Rendered::Text("-00:00:00.000001".into())
        );
        assert_eq!(
            Value::Timestamp {
                seconds: 1_000_000_000,
                micros: 123_456
            }
            .render(&col(ct::TIMESTAMP2, 6)),
            Rendered::Text("2001-09-09 01:46:40.123456".into())
        );
    }

    fn time_strategy(fsp: u16) -> impl Strategy<Value = Time> {
        let step = 10u32.pow(6 - u32::from(fsp));
        (any::<bool>(), 0u16..=838, 0u8..60, 0u8..60, 0u32..1_000_000).prop_map(
            move |(negative, hours, minutes, seconds, micros)| {
                let micros = micros / step * step;
                Time {
                    negative: negative && (hours, minutes, seconds, micros) != (0, 0, 0, 0),
                    hours,
                    minutes,
                    seconds,
                    micros,
                }
            },
        )
    }

    proptest! {
        #[test]
        fn decimals_round_trip(p in 1u8..=65, s_frac in 0u8..=30, neg in any::<bool>(), seed in any::<u64>()) {
            let s = s_frac.min(p);
            let intg = usize::from(p - s);
            let mut digits = String::new();
            let mut x = seed;
            for _ in 0..intg { digits.push(char::from(b'0' + (x % 10) as u8)); x = x / 10 + 7919; }
            let int = digits.trim_start_matches('0');
            let int = if int.is_empty() { "0" } else { int };
            let mut frac = String::new();
            for _ in 0..s { frac.push(char::from(b'0' + (x % 10) as u8)); x = x / 10 + 104_729; }
            let mut text = String::new();
            let zero = int == "0" && frac.bytes().all(|c| c == b'0');
            if neg && !zero { text.push('-'); }
            text.push_str(int);
            if s > 0 { text.push('.'); text.push_str(&frac); }
            round_trip(&col(ct::NEWDECIMAL, u16::from(p) << 8 | u16::from(s)), &Value::Decimal(text));
        }

        #[test]
        fn times_round_trip(fsp in 0u16..=6, t in (0u16..=6).prop_flat_map(time_strategy)) {
            let step = 10u32.pow(6 - u32::from(fsp));
            let t = Time { micros: t.micros / step * step, ..t };
            let t = Time { negative: t.negative && (t.hours, t.minutes, t.seconds, t.micros) != (0, 0, 0, 0), ..t };
            round_trip(&col(ct::TIME2, fsp), &Value::Time(t));
            let old = Time { micros: 0, ..t };
            let old = Time { negative: old.negative && (old.hours, old.minutes, old.seconds) != (0, 0, 0), ..old };
            round_trip(&col(ct::TIME, 0), &Value::Time(old));
        }

        #[test]
        fn datetimes_round_trip(fsp in 0u16..=6, y in 0u16..=9999, mo in 0u8..=12, d in 0u8..=31,
                                h in 0u8..24, mi in 0u8..60, s in 0u8..60, us in 0u32..1_000_000) {
            let step = 10u32.pow(6 - u32::from(fsp));
            let dt = DateTime { date: Date { year: y, month: mo, day: d }, hour: h, minute: mi, second: s, micros: us / step * step };
            round_trip(&col(ct::DATETIME2, fsp), &Value::DateTime(dt));
            round_trip(&col(ct::DATETIME, 0), &Value::DateTime(DateTime { micros: 0, ..dt }));
            round_trip(&col(ct::DATE, 0), &Value::Date(dt.date));
            round_trip(&col(ct::TIMESTAMP2, fsp), &Value::Timestamp { seconds: u32::from(y) * 400_000, micros: us / step * step });
        }

        #[test]
        fn scalars_round_trip(v in any::<u64>(), f in any::<f32>(), d in any::<f64>(), bits in 1u16..=64) {
            for (t, w) in [(ct::TINY, 1), (ct::SHORT, 2), (ct::INT24, 3), (ct::LONG, 4), (ct::LONGLONG, 8)] {
                let masked = if w == 8 { v } else { v & ((1u64 << (8 * w)) - 1) };
                round_trip(&col(t, 0), &Value::Int(masked));
            }
            let mut out = Vec::new();
            Value::Float(f).encode(&col(ct::FLOAT, 4), &mut out).unwrap();
            prop_assert_eq!(out, f.to_bits().to_le_bytes().to_vec());
            let mut out = Vec::new();
            Value::Double(d).encode(&col(ct::DOUBLE, 8), &mut out).unwrap();
            prop_assert_eq!(out, d.to_bits().to_le_bytes().to_vec());
            let meta = (bits / 8) << 8 | (bits % 8);
            let masked = if bits == 64 { v } else { v & ((1u64 << bits) - 1) };
            round_trip(&col(ct::BIT, meta), &Value::Bit(masked));
        }

        #[test]
        fn any_bytes_decode_without_panic(t in any::<u8>(), meta in any::<u16>(), b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let c = col(t, meta);
            let mut r = Reader::new(&b);
            if let Ok(v) = Value::decode(&c, &mut r, t == ct::JSON) {
                let _ = v.render(&c);
            }
        }
    }
}
