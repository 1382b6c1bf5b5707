//! POSIX pax extended headers: the `length keyword=value\n` records of 'x' and 'g'
//! headers, their keywords, and the small encodings they use (decimal times with a fraction,
//! base64 and percent-encoding for libarchive's xattrs, hex for relic's own extras).
//!
//! Facts and sources:
//! - Record syntax, precedence and deletion by an empty value: POSIX.1-2017 `pax`,
//!   "pax Extended Header" ("%d %s=%s\n", the length counts itself; "If the value field is
//!   zero length, it shall delete any header block field, previously entered extended header
//!   value, or global extended header value of the same name").
//! - Time values are decimal seconds with an optional fraction and may be negative
//!   (POSIX, `atime`/`mtime` keywords; GNU tar writes e.g. `mtime=1795302103.78360795`).
//! - `SCHILY.xattr.NAME=raw value` (star, GNU tar `--xattrs`), `LIBARCHIVE.xattr.NAME` with the
//!   name percent-encoded and the value base64 (libarchive
//!   `archive_write_set_format_pax.c::archive_write_pax_header_xattr`),
//!   `LIBARCHIVE.creationtime` (libarchive, birth time), `SCHILY.dev/ino/nlink`,
//!   `SCHILY.devmajor/devminor` (star).
//! - `RELIC.<key>=<lowercase hex>`: relic's own namespace, one record per [`Entry`] extra.
//!
//! [`Entry`]: relic_model::Entry

use std::collections::HashMap;

use relic_model::{Error, Result, Timestamp};

/// The largest extended header relic reads, and the most record bytes it keeps for one
/// member (its 'x' headers) or for the archive (its 'g' headers): a sanity cap; real ones
/// are a few hundred bytes, large ones carry many xattrs or ACLs.
pub const MAX_EXTENDED_HEADER: u64 = 8 << 20;

/// Records of one extended header, in order (the same key may repeat: sparse 0.0 does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    pub recs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Records {
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// The last value of `key`, empty included.
    pub fn last(&self, key: &[u8]) -> Option<&[u8]> {
        self.recs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    pub fn has(&self, key: &[u8]) -> bool {
        self.recs.iter().any(|(k, _)| k == key)
    }

    /// Total bytes of keys and values (for the reader's memory cap).
    pub fn bytes(&self) -> usize {
        self.recs.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// Merge records into this set (used for global headers: later values replace).
    /// Linear in the number of records, whatever the input.
    pub fn merge(&mut self, other: Records) {
        let mut last: HashMap<&[u8], usize> = HashMap::new();
        for (i, (k, _)) in other.recs.iter().enumerate() {
            last.insert(k.as_slice(), i);
        }
        self.recs.retain(|(k, _)| !last.contains_key(k.as_slice()));
        let keep: Vec<bool> = other
            .recs
            .iter()
            .enumerate()
            .map(|(i, (k, _))| last.get(k.as_slice()) == Some(&i))
            .collect();
        self.recs.extend(
            other
                .recs
                .into_iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|(r, _)| r),
        );
    }
}

/// The effective pax view of one entry: its own records over the global ones.
pub struct View<'a> {
    pub local: &'a Records,
    pub global: &'a Records,
}

impl<'a> View<'a> {
    /// The value of `key`, `None` when absent or deleted by an empty value.
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        let v = match self.local.last(key.as_bytes()) {
            Some(v) => v,
            None => self.global.last(key.as_bytes())?,
        };
        (!v.is_empty()).then_some(v)
    }

    /// All `(suffix, value)` pairs of keys starting with `prefix`, local over global, in a
    /// stable order; an empty value deletes.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let p = prefix.as_bytes();
        // in order of first appearance; linear in the number of records
        let mut at: HashMap<&[u8], usize> = HashMap::new();
        let mut out: Vec<(&[u8], Option<&[u8]>)> = Vec::new();
        for (k, v) in self.global.recs.iter().chain(self.local.recs.iter()) {
            if k.len() > p.len() && k.starts_with(p) {
                let name = &k[p.len()..];
                let val = (!v.is_empty()).then_some(v.as_slice());
                match at.get(name) {
                    Some(&i) => out[i].1 = val,
                    None => {
                        at.insert(name, out.len());
                        out.push((name, val));
                    }
                }
            }
        }
        out.into_iter()
            .filter_map(|(n, v)| Some((n.to_vec(), v?.to_vec())))
            .collect()
    }
}

/// Parse the data of an extended header. `base` is the stream offset of `data[0]`, for
/// error positions. Trailing NUL padding is tolerated (some writers pad the data area).
pub fn parse_records(data: &[u8], base: u64) -> Result<Records> {
    let mut recs = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        if data[pos..].iter().all(|&b| b == 0) {
            break;
        }
        let bad = |what: &str, at: usize| {
            Error::corrupt(format!("pax extended header: {what}")).at(base + at as u64)
        };
        let rest = &data[pos..];
        let sp = rest
            .iter()
            .take(21)
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("record length not followed by a space", pos))?;
        if sp == 0 || !rest[..sp].iter().all(u8::is_ascii_digit) {
            return Err(bad("record does not start with a decimal length", pos));
        }
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("record length out of range", pos))?;
        if len < sp + 3 || len > rest.len() {
            return Err(bad(
                &format!(
                    "record length {len} does not fit the {} bytes left",
                    rest.len()
                ),
                pos,
            ));
        }
        let rec = &rest[sp + 1..len];
        if rec.last() != Some(&b'\n') {
            return Err(bad("record does not end with a newline", pos + len - 1));
        }
        let rec = &rec[..rec.len() - 1];
        let eq = rec
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("record has no '='", pos))?;
        if eq == 0 {
            return Err(bad("record has an empty keyword", pos));
        }
        recs.push((rec[..eq].to_vec(), rec[eq + 1..].to_vec()));
        pos += len;
    }
    Ok(Records { recs })
}

/// One record, its length prefix counting itself.
pub fn format_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut digits = 1;
    loop {
        let total = body + digits;
        let d = total.to_string().len();
        if d == digits {
            let mut out = Vec::with_capacity(total);
            out.extend_from_slice(total.to_string().as_bytes());
            out.push(b' ');
            out.extend_from_slice(key);
            out.push(b'=');
            out.extend_from_slice(value);
            out.push(b'\n');
            return out;
        }
        digits = d;
    }
}

/// A decimal unsigned value (`size`, `uid`, ...).
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// `[-]seconds[.fraction]` into a timestamp (fraction digits past nanoseconds dropped).
pub fn parse_time(v: &[u8]) -> Option<Timestamp> {
    let (neg, v) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        _ => (false, v),
    };
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &v[v.len()..]),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let secs: i64 = if int.is_empty() {
        0
    } else {
        i64::try_from(parse_u64(int)?).ok()?
    };
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut nanos: u32 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |d| u32::from(d - b'0'));
    }
    if !neg {
        return Some(Timestamp::new(secs, nanos));
    }
    if nanos == 0 {
        Some(Timestamp::new(-secs, 0))
    } else {
        Some(Timestamp::new(-secs - 1, 1_000_000_000 - nanos))
    }
}

/// The pax form of a timestamp: whole seconds, or seconds and a fraction without trailing
/// zeros (as GNU tar writes it); negative times with a fraction count down from zero.
pub fn format_time(t: Timestamp) -> String {
    if t.nanos == 0 {
        return t.secs.to_string();
    }
    let (sign, int, frac) = if t.secs >= 0 {
        ("", t.secs as u64, t.nanos)
    } else {
        ("-", (-(t.secs + 1)) as u64, 1_000_000_000 - t.nanos)
    };
    let f = format!("{frac:09}");
    format!("{sign}{int}.{}", f.trim_end_matches('0'))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648), `=` padding optional.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut n = 0;
    let mut pad = false;
    for &c in s {
        if c == b'=' {
            pad = true;
            continue;
        }
        if pad {
            return None;
        }
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = acc << 6 | v;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        0 => {}
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return None,
    }
    Some(out)
}

pub fn base64_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[(v >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding (libarchive encodes xattr names this way); bad escapes stay literal.
pub fn url_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hexval(s[i + 1]), hexval(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Percent-encoding of everything but unreserved printable ASCII, '=' and '%' included.
pub fn url_encode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_graphic() && b != b'%' && b != b'=' {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

pub fn hex_decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks(2)
        .map(|p| Some(hexval(p[0])? << 4 | hexval(p[1])?))
        .collect()
}

pub fn hex_encode(data: &[u8]) -> Vec<u8> {
    data.iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for (k, v) in [
            ("path", &b"a"[..]),
            ("x", &[b'y'; 95][..]),
            ("k", &[0u8, b'\n', b'='][..]),
        ] {
            let r = format_record(k.as_bytes(), v);
            let n: usize =
                std::str::from_utf8(&r[..r.iter().position(|&b| b == b' ').expect("space")])
                    .expect("ascii")
                    .parse()
                    .expect("number");
            assert_eq!(n, r.len());
            let p = parse_records(&r, 0).expect("parses");
            assert_eq!(p.recs, vec![(k.as_bytes().to_vec(), v.to_vec())]);
        }
        assert_eq!(format_record(b"x", &[b'y'; 94]).len(), 101);
        assert_eq!(format_record(b"x", &[b'y'; 95]).len(), 102);
    }

    #[test]
    fn bad_records_are_corrupt_with_offset() {
        let e = parse_records(b"9 path=a\n99 x=y\n", 1000).expect_err("bad length");
        assert_eq!(e.offset, Some(1009));
        assert!(parse_records(b"4 a\n", 0).is_err());
        assert!(parse_records(b"99999999999999999999999 a=b\n", 0).is_err());
        assert!(parse_records(b"6 =ab\n", 0).is_err());
        assert_eq!(
            parse_records(b"6 a=b\n\0\0\0", 0)
                .expect("padding ok")
                .recs
                .len(),
            1
        );
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time(b"1795302103.78360795"),
            Some(Timestamp::new(1795302103, 783_607_950))
        );
        assert_eq!(parse_time(b"5"), Some(Timestamp::new(5, 0)));
        assert_eq!(parse_time(b"-1.25"), Some(Timestamp::new(-2, 750_000_000)));
        assert_eq!(parse_time(b"-3"), Some(Timestamp::new(-3, 0)));
        assert_eq!(
            parse_time(b"1.1234567899"),
            Some(Timestamp::new(1, 123_456_789))
        );
        assert_eq!(parse_time(b"x"), None);
        for t in [
            Timestamp::new(5, 0),
            Timestamp::new(-2, 750_000_000),
            Timestamp::new(1, 1),
            Timestamp::new(-1, 999_999_999),
        ] {
            assert_eq!(
                parse_time(format_time(t).as_bytes()),
                Some(t),
                "{}",
                format_time(t)
            );
        }
        assert_eq!(format_time(Timestamp::new(-2, 750_000_000)), "-1.25");
        assert_eq!(format_time(Timestamp::new(7, 500_000_000)), "7.5");
    }

    #[test]
    fn encodings() {
        for d in [&b""[..], b"a", b"ab", b"abc", b"\x00\xff\x10\x80"] {
            assert_eq!(base64_decode(&base64_encode(d)).as_deref(), Some(d));
            assert_eq!(hex_decode(&hex_encode(d)).as_deref(), Some(d));
            assert_eq!(url_decode(&url_encode(d)), d);
        }
        assert_eq!(base64_decode(b"aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode(b"aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64_decode(b"a"), None);
        assert_eq!(url_decode(b"user.a%3Db%"), b"user.a=b%");
        assert_eq!(hex_decode(b"0A"), Some(vec![10]));
        assert_eq!(hex_decode(b"0g"), None);
    }
}
