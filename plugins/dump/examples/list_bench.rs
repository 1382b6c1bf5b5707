//! In-process timing of the dump reader as `relic list` (names only) and `relic list -l`
//! (full read, data skipped) drive it, without the driver, plugin loading or output.
//!
//! `cargo run --release -p relic-format-dump --example list_bench -- [-n RUNS]
//! [-m names|full|both] DUMP...`
//! prints, for each dump and mode, the median and the minimum over RUNS of: the time to the
//! first entry (open, maps and the whole directory phase), the total time, and the total
//! per entry.
//! `--entries OUT` instead writes every entry of both modes (Debug form) to `OUT.names`
//! and `OUT.full`, to compare two builds of the reader byte for byte.
//!
//! The input is read through a minimal file medium like the `file` plugin's (64 KiB
//! records, spacing over whole records by seeking), so skipped data is not read.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use relic_format_dump::{DumpReader, ReadOptions, BSD_ID};
use relic_model::{
    Error, FormatReader, Medium, MediumInfo, NullHost, Position, RecordRead, RecordStatus, Result,
    Space, WriteStatus,
};

const UNIT: u64 = 64 * 1024;

/// A plain file read in 64 KiB records.
struct FileMedium {
    f: File,
    size: u64,
    offset: u64,
}

impl Medium for FileMedium {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "file".into(),
            name: "bench".into(),
            record_size: 0,
            max_record: UNIT as u32,
            seekable: true,
            can_space: true,
            records_meaningful: false,
            size: Some(self.size),
        }
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        let want = (self.size - self.offset).min(UNIT) as usize;
        if want == 0 {
            return Ok(RecordRead::mark(RecordStatus::EndOfData));
        }
        if buf.len() < want {
            return Ok(RecordRead {
                status: RecordStatus::TooSmall,
                len: want,
            });
        }
        self.f
            .read_exact(&mut buf[..want])
            .map_err(|e| Error::io("read", &e))?;
        self.offset += want as u64;
        Ok(RecordRead::data(want))
    }
    fn write_record(&mut self, _data: &[u8]) -> Result<WriteStatus> {
        Err(Error::config("read only"))
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Err(Error::config("read only"))
    }
    fn position(&self) -> Position {
        Position {
            offset: self.offset,
            record: self.offset / UNIT,
            volume: 1,
            ..Position::default()
        }
    }
    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        if op != Space::Records {
            return Err(Error::unsupported("records only"));
        }
        let cur = (self.offset / UNIT) as i64;
        let last = self.size.div_ceil(UNIT) as i64;
        let target = (cur + count).clamp(0, last);
        let to = (target as u64 * UNIT).min(self.size);
        self.f
            .seek(SeekFrom::Start(to))
            .map_err(|e| Error::io("seek", &e))?;
        self.offset = to;
        Ok(target - cur)
    }
    fn next_volume(&mut self, _number: u32) -> Result<bool> {
        Ok(false)
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

fn open(path: &str, names_only: bool) -> Result<DumpReader> {
    let f = File::open(path).map_err(|e| Error::io(path, &e))?;
    let size = f.metadata().map_err(|e| Error::io(path, &e))?.len();
    let medium = FileMedium { f, size, offset: 0 };
    let opts = ReadOptions {
        names_only,
        ..ReadOptions::default()
    };
    DumpReader::open(Box::new(medium), Arc::new(NullHost), opts, BSD_ID)
}

/// One read: (time to the first entry, total time, entries, answered from directories).
fn run(path: &str, names_only: bool) -> Result<(Duration, Duration, usize, bool)> {
    let t0 = Instant::now();
    let mut r = open(path, names_only)?;
    let _ = r.volume()?;
    let mut n = 0usize;
    let mut first = Duration::ZERO;
    while let Some(e) = r.next_entry()? {
        if n == 0 {
            first = t0.elapsed();
        }
        n += 1;
        std::hint::black_box(&e);
    }
    Ok((first, t0.elapsed(), n, r.answered_from_directories()))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn min(v: &[Duration]) -> Duration {
    v.iter().copied().min().unwrap_or_default()
}

fn write_entries(path: &str, out: &str) -> Result<()> {
    for (names_only, ext) in [(true, "names"), (false, "full")] {
        let mut r = open(path, names_only)?;
        let name = format!("{out}.{ext}");
        let mut w = std::io::BufWriter::new(File::create(&name).map_err(|e| Error::io(&name, &e))?);
        writeln!(w, "{:?}", r.volume()?).map_err(|e| Error::io(&name, &e))?;
        while let Some(e) = r.next_entry()? {
            writeln!(w, "{e:?}").map_err(|e| Error::io(&name, &e))?;
        }
        writeln!(
            w,
            "from_dirs={} complete={}",
            r.answered_from_directories(),
            r.complete()
        )
        .map_err(|e| Error::io(&name, &e))?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 11usize;
    let mut entries_out: Option<String> = None;
    let mut modes = vec![true, false];
    while args.first().is_some_and(|a| a.starts_with('-')) {
        let flag = args.remove(0);
        let value = if args.is_empty() {
            return Err(Error::config(format!("{flag} needs a value")));
        } else {
            args.remove(0)
        };
        match flag.as_str() {
            "-n" => runs = value.parse().map_err(|_| Error::config("-n RUNS"))?,
            "--entries" => entries_out = Some(value),
            "-m" => {
                modes = match value.as_str() {
                    "names" => vec![true],
                    "full" => vec![false],
                    _ => vec![true, false],
                }
            }
            _ => return Err(Error::config(format!("unknown option {flag}"))),
        }
    }
    if let Some(out) = entries_out {
        for path in &args {
            write_entries(path, &out)?;
        }
        return Ok(());
    }
    for path in &args {
        for &names_only in &modes {
            let mut firsts = Vec::new();
            let mut totals = Vec::new();
            let mut count = 0;
            let mut answered = false;
            for _ in 0..runs {
                let (f, t, n, a) = run(path, names_only)?;
                firsts.push(f);
                totals.push(t);
                count = n;
                answered = a;
            }
            let (fmin, tmin) = (min(&firsts), min(&totals));
            let (f, t) = (median(firsts), median(totals));
            println!(
                "{path} {:5} entries={count} from_dirs={answered} median: first={:.3}ms \
                 total={:.3}ms {:.0} ns/entry; min: first={:.3}ms total={:.3}ms {:.0} ns/entry",
                if names_only { "names" } else { "full" },
                f.as_secs_f64() * 1e3,
                t.as_secs_f64() * 1e3,
                t.as_nanos() as f64 / count.max(1) as f64,
                fmin.as_secs_f64() * 1e3,
                tmin.as_secs_f64() * 1e3,
                tmin.as_nanos() as f64 / count.max(1) as f64
            );
        }
    }
    Ok(())
}
