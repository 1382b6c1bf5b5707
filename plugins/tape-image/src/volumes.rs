//! Multi-volume sets of image files: an explicit list or a numbered pattern.
//!
//! Volume 1 is always the medium's location. Further volumes come from the option
//! `volumes=a.tap,b.tap,c.tap` (the whole set in order, volume 1 first) or
//! `volumes=name%03d.tap` (a printf-style number, volumes counted from 1, as Linux dump `-M`
//! numbers its volumes), or from a location that is itself such a list or pattern.

use relic_model::{Error, Result};

/// Where the volumes of a set are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeSet {
    list: Vec<String>,
    pattern: Option<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    before: String,
    width: usize,
    after: String,
}

impl VolumeSet {
    /// A set of one.
    pub fn single(location: &str) -> VolumeSet {
        VolumeSet {
            list: vec![location.to_string()],
            pattern: None,
        }
    }

    /// Parse a list (`a,b,c`) or a pattern (`name%03d.tap`); `None` for a plain name.
    pub fn parse(spec: &str) -> Result<Option<VolumeSet>> {
        if let Some(p) = parse_pattern(spec)? {
            return Ok(Some(VolumeSet {
                list: vec![],
                pattern: Some(p),
            }));
        }
        if spec.contains(',') {
            let list: Vec<String> = spec.split(',').map(|s| s.trim().to_string()).collect();
            if list.iter().any(|s| s.is_empty()) {
                return Err(Error::config(format!(
                    "empty name in the volume list '{spec}'"
                )));
            }
            return Ok(Some(VolumeSet {
                list,
                pattern: None,
            }));
        }
        Ok(None)
    }

    /// The path of volume `n` (from 1), if the set has one.
    pub fn path(&self, n: u32) -> Option<String> {
        if n == 0 {
            return None;
        }
        if let Some(p) = &self.pattern {
            let num = format!("{:0width$}", n, width = p.width);
            return Some(format!("{}{}{}", p.before, num, p.after));
        }
        self.list.get(n as usize - 1).cloned()
    }

    pub fn is_pattern(&self) -> bool {
        self.pattern.is_some()
    }
}

/// `%d`, `%Nd` or `%0Nd` once, `%%` for a percent sign.
fn parse_pattern(spec: &str) -> Result<Option<Pattern>> {
    let mut before = String::new();
    let mut after = String::new();
    let mut width = None;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        let out = if width.is_some() {
            &mut after
        } else {
            &mut before
        };
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().copied().filter(|d| d.is_ascii_digit()) {
            digits.push(d);
            chars.next();
        }
        if chars.next() != Some('d') {
            return Err(Error::config(format!(
                "volume pattern '{spec}': only %d, %Nd and %0Nd are understood"
            )));
        }
        if width.is_some() {
            return Err(Error::config(format!(
                "volume pattern '{spec}' has more than one number"
            )));
        }
        let w: usize = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| Error::config("bad width"))?
        };
        if w > 12 {
            return Err(Error::config(format!(
                "volume pattern '{spec}': width {w} is too large"
            )));
        }
        width = Some(w);
    }
    Ok(width.map(|width| Pattern {
        before,
        width,
        after,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_patterns() {
        let s = VolumeSet::parse("a.tap, b.tap,c.tap")
            .expect("parse")
            .expect("a set");
        assert_eq!(s.path(1).as_deref(), Some("a.tap"));
        assert_eq!(s.path(3).as_deref(), Some("c.tap"));
        assert_eq!(s.path(4), None);
        let p = VolumeSet::parse("dir/out%03d.tap")
            .expect("parse")
            .expect("a set");
        assert_eq!(p.path(1).as_deref(), Some("dir/out001.tap"));
        assert_eq!(p.path(12).as_deref(), Some("dir/out012.tap"));
        let p = VolumeSet::parse("100%%-%d").expect("parse").expect("a set");
        assert_eq!(p.path(7).as_deref(), Some("100%-7"));
        assert_eq!(VolumeSet::parse("plain.tap").expect("parse"), None);
        assert!(VolumeSet::parse("a%s").is_err());
        assert!(VolumeSet::parse("a%d%d").is_err());
        assert!(VolumeSet::parse("a,,b").is_err());
    }
}
