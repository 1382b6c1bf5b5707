//! LZO1X decompression (what `lzo1x_decompress_safe` accepts), for Linux dump's `-y`
//! records. Written here rather than taken from crates.io: the pure-Rust LZO crates are a
//! single unmaintained release (`lzokay-native` 0.1.0) or GPL bindings to C (`minilzo-rs`),
//! and the decoder is small. Checked against the real `dump -y` fixture
//! (`fixtures/dump/lzo.dump`).
//!
//! Format (LZO1X, from the public description of the reference decoder): a byte stream of
//! instructions. A literal run is `0..15` (`0` followed by a zero-counted length) copying
//! `t + 3` literals; matches are M1 (`0..15` after a match: 2 bytes, distance
//! `1 + (t >> 2) + (b << 2)`; after a literal run: 3 bytes, distance plus 0x800), M2
//! (`64..255`: `(t >> 5) + 1` bytes, distance `1 + ((t >> 2) & 7) + (b << 3)`), M3
//! (`32..63`: length `t & 31` or zero-counted `+ 31`, then `+2`; 16-bit little-endian
//! distance word `>> 2`, plus 1), M4 (`16..31`: length `t & 7` or zero-counted `+ 7`, then
//! `+2`; distance `((t & 8) << 11) + word >> 2 + 0x4000`; a distance of exactly 0 before
//! the 0x4000 is the end marker). The low two bits of the byte two before the input pointer
//! after a match give 0..3 literals that follow it. A first byte above 17 starts with
//! `byte - 17` literals.

/// Decompress `src`, producing at most `max_out` bytes.
pub fn decompress(src: &[u8], max_out: usize) -> Result<Vec<u8>, &'static str> {
    let mut d = Decoder {
        src,
        ip: 0,
        out: Vec::with_capacity(max_out.min(src.len().saturating_mul(4)).max(64)),
        max_out,
    };
    d.run()?;
    Ok(d.out)
}

struct Decoder<'a> {
    src: &'a [u8],
    ip: usize,
    out: Vec<u8>,
    max_out: usize,
}

enum State {
    Instruction,
    FirstLiteralRun,
    Match(usize),
    MatchNext(usize),
}

impl Decoder<'_> {
    fn byte(&mut self) -> Result<usize, &'static str> {
        let b = *self.src.get(self.ip).ok_or("input overrun")?;
        self.ip += 1;
        Ok(b as usize)
    }

    /// A zero-counted length: each 0 byte adds 255, then the first nonzero byte.
    fn long_len(&mut self, base: usize) -> Result<usize, &'static str> {
        let mut t = base;
        loop {
            let b = self.byte()?;
            if b != 0 {
                return Ok(t + b);
            }
            t = t.checked_add(255).ok_or("length overflow")?;
            if t > self.max_out {
                return Err("length beyond the output limit");
            }
        }
    }

    fn literals(&mut self, n: usize) -> Result<(), &'static str> {
        let end = self.ip.checked_add(n).ok_or("input overrun")?;
        if end > self.src.len() {
            return Err("input overrun");
        }
        if self.out.len() + n > self.max_out {
            return Err("output overrun");
        }
        self.out.extend_from_slice(&self.src[self.ip..end]);
        self.ip = end;
        Ok(())
    }

    fn copy_match(&mut self, dist: usize, len: usize) -> Result<(), &'static str> {
        if dist == 0 || dist > self.out.len() {
            return Err("lookbehind overrun");
        }
        if self.out.len() + len > self.max_out {
            return Err("output overrun");
        }
        let start = self.out.len() - dist;
        for i in 0..len {
            let b = self.out[start + i];
            self.out.push(b);
        }
        Ok(())
    }

    /// After a match: 0..3 trailing literals from the byte two back.
    fn match_done(&self) -> State {
        let t = (self.src[self.ip - 2] & 3) as usize;
        if t == 0 {
            State::Instruction
        } else {
            State::MatchNext(t)
        }
    }

    fn run(&mut self) -> Result<(), &'static str> {
        let mut state = State::Instruction;
        if let Some(&first) = self.src.first() {
            if first > 17 {
                self.ip = 1;
                let t = first as usize - 17;
                if t < 4 {
                    state = State::MatchNext(t);
                } else {
                    self.literals(t)?;
                    state = State::FirstLiteralRun;
                }
            }
        }
        loop {
            state = match state {
                State::Instruction => {
                    let t = self.byte()?;
                    if t >= 16 {
                        State::Match(t)
                    } else {
                        let n = if t == 0 { self.long_len(15)? } else { t };
                        self.literals(n + 3)?;
                        State::FirstLiteralRun
                    }
                }
                State::FirstLiteralRun => {
                    let t = self.byte()?;
                    if t >= 16 {
                        State::Match(t)
                    } else {
                        let b = self.byte()?;
                        self.copy_match(1 + 0x800 + (t >> 2) + (b << 2), 3)?;
                        self.match_done()
                    }
                }
                State::Match(t) => {
                    if t >= 64 {
                        let b = self.byte()?;
                        self.copy_match(1 + ((t >> 2) & 7) + (b << 3), (t >> 5) + 1)?;
                    } else if t >= 32 {
                        let len = if t & 31 == 0 {
                            self.long_len(31)?
                        } else {
                            t & 31
                        };
                        let lo = self.byte()?;
                        let hi = self.byte()?;
                        self.copy_match(1 + (lo >> 2) + (hi << 6), len + 2)?;
                    } else if t >= 16 {
                        let len = if t & 7 == 0 { self.long_len(7)? } else { t & 7 };
                        let lo = self.byte()?;
                        let hi = self.byte()?;
                        let dist = ((t & 8) << 11) + (lo >> 2) + (hi << 6);
                        if dist == 0 {
                            // end of stream marker
                            return if self.ip == self.src.len() {
                                Ok(())
                            } else {
                                Err("data after the end marker")
                            };
                        }
                        self.copy_match(dist + 0x4000, len + 2)?;
                    } else {
                        let b = self.byte()?;
                        self.copy_match(1 + (t >> 2) + (b << 2), 2)?;
                    }
                    self.match_done()
                }
                State::MatchNext(t) => {
                    self.literals(t)?;
                    let t = self.byte()?;
                    State::Match(t)
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_only_stream() {
        let mut s = vec![17 + 5];
        s.extend_from_slice(b"hello");
        s.extend_from_slice(&[0x11, 0, 0]);
        assert_eq!(decompress(&s, 100).expect("valid"), b"hello");
    }

    #[test]
    fn m2_match_repeats() {
        // "abcd" literals, then an M2 match of 3 bytes at distance 4, end marker
        // M2: t >= 64, len = (t >> 5) + 1 = 3 -> t >> 5 = 2; dist 4 = 1 + ((t>>2)&7) + (b<<3)
        // -> (t >> 2) & 7 = 3, b = 0 -> t = 0b010_011_00 = 0x4c
        let s = [17 + 4, b'a', b'b', b'c', b'd', 0x4c, 0, 0x11, 0, 0];
        assert_eq!(decompress(&s, 100).expect("valid"), b"abcdabc");
    }

    #[test]
    fn hostile_streams_fail_cleanly() {
        assert!(decompress(&[], 10).is_err());
        assert!(
            decompress(&[0x4c, 0], 10).is_err(),
            "lookbehind before start"
        );
        assert!(decompress(&[0, 0, 0, 0, 0, 0], 10).is_err());
        let mut s = vec![17 + 5];
        s.extend_from_slice(b"hello");
        s.extend_from_slice(&[0x11, 0, 0]);
        assert!(decompress(&s, 3).is_err(), "output limit");
        for n in 0..s.len() {
            assert!(decompress(&s[..n], 100).is_err());
        }
    }
}
