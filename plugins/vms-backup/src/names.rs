//! VMS file specifications and model paths, both ways (research note §3.3).
//!
//! Reading: `[DIR.SUB]NAME.TYPE;VER` becomes `DIR/SUB/NAME.TYPE` with the version returned
//! separately; `000000` (the MFD) is dropped; ODS-5 `^` escapes are decoded (`^_` space,
//! `^xx` a hex byte, `^Uxxxx` a UCS-2 character as UTF-8, `^c` the character c); an empty
//! type loses its dot (`NAME.;1` -> `NAME`), as vBACKUP does. A decoded component that is
//! `.` or `..`, or that would contain `/` or NUL, is reported: `..` is kept in the path so
//! the extractor refuses the entry (the model never hides such paths), `/` and NUL stay
//! escaped.
//!
//! Writing: model path components become ODS-2 names (upper case, characters outside
//! `A-Z 0-9 $ _ -` replaced by `_`, 39-character name and type) or, when asked, ODS-5 names
//! (case kept, everything else `^`-escaped so [`parse_spec`] gives the same bytes back).

/// A decoded file specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Directory components, decoded, `000000` dropped.
    pub dirs: Vec<Vec<u8>>,
    /// `NAME.TYPE` (or `NAME` for an empty type), decoded.
    pub name: Vec<u8>,
    /// The decoded type (after the last unescaped dot), empty when none.
    pub file_type: Vec<u8>,
    pub version: Option<u32>,
    /// Problems found while decoding (for warnings).
    pub problems: Vec<String>,
}

impl Spec {
    /// `DIR/SUB/NAME.TYPE`.
    pub fn path(&self) -> Vec<u8> {
        let mut p = Vec::new();
        for d in &self.dirs {
            p.extend_from_slice(d);
            p.push(b'/');
        }
        p.extend_from_slice(&self.name);
        p
    }

    /// The name without its type (a directory file `FOO.DIR` -> `FOO`).
    pub fn stem(&self) -> &[u8] {
        if self.file_type.is_empty() || !self.name.ends_with(&self.file_type) {
            return &self.name;
        }
        let n = self.name.len() - self.file_type.len();
        match self.name.get(..n.saturating_sub(1)) {
            Some(s) if n > 0 && self.name[n - 1] == b'.' => s,
            _ => &self.name,
        }
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Split `s` at unescaped occurrences of `sep` (a `^` escapes the next character, or the
/// next two when they are hex digits, or `Uxxxx`).
fn split_unescaped(s: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'^' {
            i += escape_len(&s[i..]);
            continue;
        }
        if s[i] == sep {
            out.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

/// Length of the escape sequence starting at `s[0] == b'^'`.
fn escape_len(s: &[u8]) -> usize {
    match s.get(1) {
        None => 1,
        Some(b'U') if s.len() >= 6 && s[2..6].iter().all(|c| hex(*c).is_some()) => 6,
        Some(&a) if hex(a).is_some() && s.get(2).and_then(|b| hex(*b)).is_some() => 3,
        Some(_) => 2,
    }
}

/// Position of the last unescaped `c`.
fn rfind_unescaped(s: &[u8], c: u8) -> Option<usize> {
    let mut last = None;
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'^' {
            i += escape_len(&s[i..]);
            continue;
        }
        if s[i] == c {
            last = Some(i);
        }
        i += 1;
    }
    last
}

/// The VMS-syntax pieces of a specification, escapes kept: directory components (MFD
/// `000000` dropped), `NAME.TYPE` and the version.
pub fn raw_parts(s: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>, Option<u32>) {
    let mut dirs = Vec::new();
    let mut rest = s;
    if let Some(o) = s.iter().position(|&c| c == b'[' || c == b'<') {
        let close_ch = if s[o] == b'[' { b']' } else { b'>' };
        let mut i = o + 1;
        while i < s.len() {
            if s[i] == b'^' {
                i += escape_len(&s[i..]);
                continue;
            }
            if s[i] == close_ch {
                break;
            }
            i += 1;
        }
        let close = i.min(s.len());
        for comp in split_unescaped(&s[o + 1..close], b'.') {
            if !comp.is_empty() && comp != b"000000" {
                dirs.push(comp.to_vec());
            }
        }
        rest = &s[(close + 1).min(s.len())..];
    }
    match rfind_unescaped(rest, b';') {
        Some(p) => {
            let v = std::str::from_utf8(&rest[p + 1..])
                .ok()
                .and_then(|v| v.trim().parse().ok());
            (dirs, rest[..p].to_vec(), v)
        }
        None => (dirs, rest.to_vec(), None),
    }
}

/// Decode ODS-5 `^` escapes.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'^' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let n = escape_len(&s[i..]);
        match n {
            6 => {
                let v = s[i + 2..i + 6]
                    .iter()
                    .fold(0u32, |a, c| a << 4 | hex(*c).unwrap_or(0) as u32);
                let ch = char::from_u32(v).unwrap_or('\u{fffd}');
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
            3 => out.push(hex(s[i + 1]).unwrap_or(0) << 4 | hex(s[i + 2]).unwrap_or(0)),
            2 if s[i + 1] == b'_' => out.push(b' '),
            2 => out.push(s[i + 1]),
            _ => out.push(b'^'),
        }
        i += n;
    }
    out
}

/// Decode one component, keeping it escaped when decoding would put `/` or NUL into it.
fn component(raw: &[u8], problems: &mut Vec<String>) -> Vec<u8> {
    let d = unescape(raw);
    if d.contains(&b'/') || d.contains(&0) {
        problems.push(format!(
            "'{}' decodes to a '/' or NUL; kept escaped",
            String::from_utf8_lossy(raw)
        ));
        return raw.to_vec();
    }
    if d == b".." || d == b"." {
        problems.push(format!(
            "'{}' decodes to '{}', which the extractor refuses",
            String::from_utf8_lossy(raw),
            String::from_utf8_lossy(&d)
        ));
    }
    d
}

/// Parse a FILENAME attribute (`DEV:[DIR.SUB]NAME.TYPE;VER`, `<DIR>` brackets accepted).
pub fn parse_spec(s: &[u8]) -> Spec {
    let mut problems = Vec::new();
    let mut dirs = Vec::new();
    let mut rest = s;
    let open = s.iter().position(|&c| c == b'[' || c == b'<');
    if let Some(o) = open {
        let close_ch = if s[o] == b'[' { b']' } else { b'>' };
        // find the matching unescaped close bracket
        let mut i = o + 1;
        let mut close = None;
        while i < s.len() {
            if s[i] == b'^' {
                i += escape_len(&s[i..]);
                continue;
            }
            if s[i] == close_ch {
                close = Some(i);
                break;
            }
            i += 1;
        }
        match close {
            Some(c) => {
                for comp in split_unescaped(&s[o + 1..c], b'.') {
                    if comp.is_empty() || comp == b"000000" {
                        continue;
                    }
                    dirs.push(component(comp, &mut problems));
                }
                rest = &s[c + 1..];
            }
            None => {
                problems.push("directory part has no closing bracket".into());
                rest = &s[o + 1..];
            }
        }
    }
    let (namepart, version) = match rfind_unescaped(rest, b';') {
        Some(p) => {
            let v = std::str::from_utf8(&rest[p + 1..])
                .ok()
                .and_then(|v| v.trim().parse::<u32>().ok());
            (&rest[..p], v)
        }
        None => (rest, None),
    };
    let (name, file_type) = match rfind_unescaped(namepart, b'.') {
        Some(p) => {
            let stem = component(&namepart[..p], &mut problems);
            let ty = unescape(&namepart[p + 1..]);
            let mut n = stem;
            if !ty.is_empty() {
                n.push(b'.');
                n.extend_from_slice(&ty);
            }
            (n, ty)
        }
        None => (component(namepart, &mut problems), Vec::new()),
    };
    let name = if name.is_empty() {
        problems.push("empty file name".into());
        b"_".to_vec()
    } else if name.contains(&b'/') || name.contains(&0) {
        problems.push("file name contains '/' or NUL; kept escaped".into());
        namepart.to_vec()
    } else {
        name
    };
    Spec {
        dirs,
        name,
        file_type,
        version,
        problems,
    }
}

/// How [`vms_component`] maps names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Upper case, `A-Z 0-9 $ _ -`, 39 characters.
    Ods2,
    /// Case kept, other characters `^`-escaped.
    Ods5,
}

/// ODS-2 name and type length limit.
pub const ODS2_MAX: usize = 39;

/// Map one name part (a directory, a stem or a type) to VMS syntax.
pub fn vms_component(raw: &[u8], style: Style) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    match style {
        Style::Ods2 => {
            for &c in raw {
                let u = c.to_ascii_uppercase();
                out.push(
                    if u.is_ascii_alphanumeric() || matches!(u, b'$' | b'_' | b'-') {
                        u
                    } else {
                        b'_'
                    },
                );
            }
            out.truncate(ODS2_MAX);
        }
        Style::Ods5 => {
            for &c in raw {
                match c {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'$' | b'_' | b'-' => out.push(c),
                    b' ' => out.extend_from_slice(b"^_"),
                    0x21..=0x7e if !c.is_ascii_hexdigit() => {
                        out.push(b'^');
                        out.push(c);
                    }
                    _ => out.extend_from_slice(format!("^{c:02X}").as_bytes()),
                }
            }
        }
    }
    if out.is_empty() {
        out.push(b'_');
    }
    out
}

/// Split a model file name into stem and type at its last dot (`a.tar.gz` -> `a.tar`, `gz`;
/// `README` -> `README`, none; `.profile` -> ``, `profile`).
pub fn split_name(name: &[u8]) -> (&[u8], Option<&[u8]>) {
    match name.iter().rposition(|&c| c == b'.') {
        Some(p) => (&name[..p], Some(&name[p + 1..])),
        None => (name, None),
    }
}

/// `NAME.TYPE` in VMS syntax (always with the dot: `README.`).
pub fn vms_file_name(name: &[u8], style: Style) -> Vec<u8> {
    let (stem, ty) = split_name(name);
    let mut out = if stem.is_empty() && style == Style::Ods2 {
        b"_".to_vec()
    } else if stem.is_empty() {
        Vec::new()
    } else {
        vms_component(stem, style)
    };
    out.push(b'.');
    if let Some(t) = ty.filter(|t| !t.is_empty()) {
        out.extend_from_slice(&vms_component(t, style));
    }
    out
}

/// `[A.B]` (or `[000000]` for the root) from mapped directory components.
pub fn vms_dir(dirs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"[".to_vec();
    if dirs.is_empty() {
        out.extend_from_slice(b"000000");
    } else {
        out.extend_from_slice(&dirs.join(&b'.'));
    }
    out.push(b']');
    out
}

/// A trailing `;N` version on a model name (how older versions are named on extraction).
pub fn strip_version(name: &[u8]) -> (&[u8], Option<u32>) {
    if let Some(p) = name.iter().rposition(|&c| c == b';') {
        if let Some(v) = std::str::from_utf8(&name[p + 1..])
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|v| v.parse::<u32>().ok())
        {
            return (&name[..p], Some(v));
        }
    }
    (name, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ods2_specs() {
        let s = parse_spec(b"[JADE.A1JA$KITS101.CA]KIMARKET_INDEX.COM;1");
        assert_eq!(s.path(), b"JADE/A1JA$KITS101/CA/KIMARKET_INDEX.COM");
        assert_eq!(s.version, Some(1));
        assert_eq!(s.file_type, b"COM");
        let s = parse_spec(b"[000000]FOO.DIR;1");
        assert_eq!(s.path(), b"FOO.DIR");
        assert_eq!(s.stem(), b"FOO");
        let s = parse_spec(b"DKA0:[A]NAME.;32767");
        assert_eq!((s.path(), s.version), (b"A/NAME".to_vec(), Some(32767)));
        let s = parse_spec(b"<A.B>X.Y;2");
        assert_eq!(s.path(), b"A/B/X.Y");
        assert!(s.problems.is_empty());
    }

    #[test]
    fn decodes_ods5_escapes_and_flags_dotdot() {
        let s = parse_spec(b"[dir^.x.Sub]a^.b^.c.txt;1");
        assert_eq!(s.path(), b"dir.x/Sub/a.b.c.txt");
        let s = parse_spec(b"[X]Mixed^_Case^U00E9^41.txt;3");
        assert_eq!(s.path(), "X/Mixed Case\u{e9}A.txt".as_bytes());
        let s = parse_spec(b"[^.^..A]x.;1");
        assert_eq!(s.path(), b"../A/x");
        assert_eq!(s.problems.len(), 1);
        let s = parse_spec(b"[A]x^2Fy.z;1");
        assert_eq!(s.path(), b"A/x^2Fy.z");
        assert_eq!(s.problems.len(), 1);
    }

    #[test]
    fn writes_names_that_read_back() {
        for name in [
            &b"a.b c.txt"[..],
            b"README",
            b"x^y.tar.gz",
            b".profile",
            b"caf\xe9",
        ] {
            let v = vms_file_name(name, Style::Ods5);
            let mut spec = b"[000000]".to_vec();
            spec.extend_from_slice(&v);
            spec.extend_from_slice(b";1");
            assert_eq!(
                parse_spec(&spec).path(),
                name,
                "{}",
                String::from_utf8_lossy(&v)
            );
        }
        assert_eq!(
            vms_file_name(b"hello.world.txt", Style::Ods2),
            b"HELLO_WORLD.TXT"
        );
        assert_eq!(vms_file_name(b"Makefile", Style::Ods2), b"MAKEFILE.");
        assert_eq!(vms_dir(&[]), b"[000000]");
        assert_eq!(strip_version(b"A.B;12"), (&b"A.B"[..], Some(12)));
        assert_eq!(strip_version(b"A;B"), (&b"A;B"[..], None));
    }
}
