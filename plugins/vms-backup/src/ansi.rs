//! ANSI X3.27 tape labels as VMS writes them around save sets (research note §1.12).
//!
//! A labelled BACKUP tape is `VOL1` (once per reel), then per save set `HDR1 HDR2 [HDR3...]`
//! tape-mark, one tape record per save-set block, tape-mark, `EOF1 EOF2 [EOF3...]` tape-mark;
//! after the last save set a second tape-mark. A reel that fills up ends its section with
//! `EOV1 EOV2` instead and the save set continues on the next reel (VOL1, HDR1 with the next
//! file section number, HDR2, tape-mark, blocks). All labels are 80-byte records of
//! "a-characters". The fields the readers depend on (research note §1.12):
//!
//! | label | columns (1-based) | field |
//! |---|---|---|
//! | VOL1 | 5-10 | volume identifier |
//! | VOL1 | 38-51 | owner identifier (VMS: `D%C` + owner) |
//! | VOL1 | 80 | label standard version |
//! | HDR1/EOF1/EOV1 | 5-21 | file identifier = save-set name (17 characters) |
//! | | 22-27 | file set identifier (the volume identifier of the first reel) |
//! | | 28-31 | file section number (reel of this file, from 1) |
//! | | 32-35 | file sequence number (position of the save set on the tape) |
//! | | 36-39, 40-41 | generation number, generation version |
//! | | 42-47, 48-53 | creation and expiration dates ` yyddd` (`0yyddd` after 1999) |
//! | | 55-60 | block count (EOF1/EOV1: blocks in this section) |
//! | | 61-73 | system code, `DECFILE11A` |
//! | HDR2/EOF2/EOV2 | 5 | record format, `F` |
//! | | 6-10 | block length |
//! | | 11-15 | record length (both = the save-set block size) |
//! | | 51-52 | buffer offset length `00` |

use relic_model::Timestamp;

/// Every label is one 80-byte tape record.
pub const LABEL_SIZE: usize = 80;

/// The four-character identifier of an 80-byte record that looks like a label
/// (`VOL1`, `HDR1`, `EOF2`, `EOV1`, ...), or `None`.
pub fn label_id(rec: &[u8]) -> Option<[u8; 4]> {
    if rec.len() != LABEL_SIZE || !rec.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        return None;
    }
    let id: [u8; 4] = [rec[0], rec[1], rec[2], rec[3]];
    let known = [b"VOL", b"HDR", b"EOF", b"EOV", b"UHL", b"UTL", b"UVL"];
    (known.iter().any(|k| id[..3] == k[..]) && id[3].is_ascii_digit()).then_some(id)
}

fn field(rec: &[u8], col: usize, len: usize) -> &[u8] {
    &rec[col - 1..col - 1 + len]
}

fn trimmed(rec: &[u8], col: usize, len: usize) -> String {
    String::from_utf8_lossy(field(rec, col, len))
        .trim()
        .to_string()
}

fn number(rec: &[u8], col: usize, len: usize) -> Option<u32> {
    trimmed(rec, col, len).parse().ok()
}

/// A decoded HDR1 / EOF1 / EOV1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hdr1 {
    pub file_id: String,
    pub set_id: String,
    pub section: u32,
    pub sequence: u32,
    pub block_count: u32,
    pub system: String,
}

impl Hdr1 {
    pub fn parse(rec: &[u8]) -> Hdr1 {
        Hdr1 {
            file_id: trimmed(rec, 5, 17),
            set_id: trimmed(rec, 22, 6),
            section: number(rec, 28, 4).unwrap_or(1),
            sequence: number(rec, 32, 4).unwrap_or(0),
            block_count: number(rec, 55, 6).unwrap_or(0),
            system: trimmed(rec, 61, 13),
        }
    }
}

/// A decoded HDR2 / EOF2 / EOV2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hdr2 {
    pub format: u8,
    pub block_length: u32,
    pub record_length: u32,
}

impl Hdr2 {
    pub fn parse(rec: &[u8]) -> Hdr2 {
        Hdr2 {
            format: rec[4],
            block_length: number(rec, 6, 5).unwrap_or(0),
            record_length: number(rec, 11, 5).unwrap_or(0),
        }
    }
}

/// The volume identifier of a VOL1.
pub fn vol1_id(rec: &[u8]) -> String {
    trimmed(rec, 5, 6)
}

fn put(rec: &mut [u8], col: usize, len: usize, s: &str) {
    let b = s.as_bytes();
    let f = &mut rec[col - 1..col - 1 + len];
    f.fill(b' ');
    let n = b.len().min(len);
    f[..n].copy_from_slice(&b[..n]);
}

fn put_num(rec: &mut [u8], col: usize, len: usize, v: u64) {
    let max = 10u64.pow(len as u32) - 1;
    put(rec, col, len, &format!("{:0len$}", v.min(max), len = len));
}

/// Label text: upper case, printable ASCII only.
fn a_chars(s: &str) -> String {
    s.chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if (' '..='~').contains(&c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// ` yyddd` (`0yyddd` from 2000) of a time.
pub fn julian(ts: Option<Timestamp>) -> String {
    let Some(ts) = ts else {
        return " 00000".into();
    };
    let days = ts.secs.div_euclid(86_400);
    let (y, _, _) = relic_model::time::civil_from_days(days);
    let doy = days - relic_model::time::days_from_civil(y, 1, 1) + 1;
    let century = if y >= 2000 { '0' } else { ' ' };
    format!("{century}{:02}{doy:03}", y.rem_euclid(100))
}

/// A VOL1 label.
pub fn vol1(volume_id: &str, owner: &str) -> [u8; LABEL_SIZE] {
    let mut r = [b' '; LABEL_SIZE];
    put(&mut r, 1, 4, "VOL1");
    put(&mut r, 5, 6, &a_chars(volume_id));
    put(&mut r, 38, 14, &format!("D%C{}", a_chars(owner)));
    put(&mut r, 80, 1, "3");
    r
}

/// HDR1, EOF1 or EOV1 (`kind` is the first three letters).
pub fn hdr1(kind: &str, h: &Hdr1, created: Option<Timestamp>) -> [u8; LABEL_SIZE] {
    let mut r = [b' '; LABEL_SIZE];
    put(&mut r, 1, 4, &format!("{kind}1"));
    put(&mut r, 5, 17, &a_chars(&h.file_id));
    put(&mut r, 22, 6, &a_chars(&h.set_id));
    put_num(&mut r, 28, 4, h.section as u64);
    put_num(&mut r, 32, 4, h.sequence as u64);
    put_num(&mut r, 36, 4, 1);
    put_num(&mut r, 40, 2, 0);
    put(&mut r, 42, 6, &julian(created));
    put(&mut r, 48, 6, " 00000");
    put_num(&mut r, 55, 6, h.block_count as u64);
    put(&mut r, 61, 13, &h.system);
    r
}

/// HDR2, EOF2 or EOV2 for fixed-length blocks of `block` bytes.
pub fn hdr2(kind: &str, block: u32) -> [u8; LABEL_SIZE] {
    let mut r = [b' '; LABEL_SIZE];
    put(&mut r, 1, 4, &format!("{kind}2"));
    put(&mut r, 5, 1, "F");
    put_num(&mut r, 6, 5, block as u64);
    put_num(&mut r, 11, 5, block as u64);
    put(&mut r, 51, 2, "00");
    r
}

/// System code VMS writes in HDR1.
pub const SYSTEM_CODE: &str = "DECFILE11A";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        // the corpus tape's first HDR1, as written there
        let real =
            b"HDR1A1C032.A         VOLSER00010001000100 96090 00000 000000DECFILE11A          ";
        let h = Hdr1::parse(real);
        assert_eq!(h.file_id, "A1C032.A");
        assert_eq!((h.section, h.sequence, h.block_count), (1, 1, 0));
        assert_eq!(h.system, "DECFILE11A");
        assert_eq!(label_id(real), Some(*b"HDR1"));
        let created = Some(Timestamp::from_secs(828_220_108)); // 1996-03-30 = day 90
        assert_eq!(&hdr1("HDR", &h, created)[..], &real[..]);
        let h2 =
            b"HDR2F0921609216                                   00                            ";
        assert_eq!(&hdr2("HDR", 9216)[..], &h2[..]);
        assert_eq!(Hdr2::parse(h2).block_length, 9216);
        assert_eq!(vol1_id(&vol1("VOLSER", "")), "VOLSER");
        assert_eq!(label_id(b"short"), None);
        assert_eq!(julian(Some(Timestamp::from_secs(951_782_400))), "000060");
    }
}
