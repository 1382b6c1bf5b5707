//! `cargo xtask bench`: throughput and peak memory of real conversions, measured, never
//! asserted in tests.
//!
//! 1. A generated tree (many small files, some large ones, a sparse file) goes dir -> tar ->
//!    dir with the release build. Each step's wall time and peak RSS (from `wait4`) are shown
//!    next to `cat` of the same bytes, the reference for "as fast as reading the data".
//! 2. A directory holding one 2 GiB file of real (non-zero) data is converted to tar; peak
//!    RSS must stay under 64 MiB (the foundation issue's goal). The bench exits non-zero
//!    when it does not, so the number is checked every time it is measured.
//!
//! Options: `--small` (a 200 MiB tree and a 256 MiB big file, for a quick look), `--keep`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

struct Measure {
    secs: f64,
    max_rss_kib: i64,
}

/// Run a command twice after `sync` (so one run does not pay for the previous run's dirty
/// pages), returning the faster wall time and the larger peak RSS.
fn measure_fair(mut make: impl FnMut() -> Command) -> Result<Measure> {
    let mut best: Option<Measure> = None;
    for _ in 0..2 {
        let _ = Command::new("sync").status();
        let m = measure(make())?;
        best = Some(match best {
            Some(b) => Measure {
                secs: b.secs.min(m.secs),
                max_rss_kib: b.max_rss_kib.max(m.max_rss_kib),
            },
            None => m,
        });
    }
    Ok(best.expect("two runs"))
}

/// The median of `n` runs (after one unmeasured warm-up run), for commands that take a few
/// milliseconds, where one run measures mostly noise.
fn measure_median(n: usize, mut make: impl FnMut() -> Command) -> Result<Measure> {
    measure(make())?;
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        runs.push(measure(make())?);
    }
    runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let max_rss_kib = runs.iter().map(|m| m.max_rss_kib).max().unwrap_or(0);
    let mid = runs.get(n / 2).map(|m| m.secs).unwrap_or(0.0);
    Ok(Measure {
        secs: mid,
        max_rss_kib,
    })
}

/// Run a command, returning wall time and the child's peak RSS.
fn measure(mut c: Command) -> Result<Measure> {
    let shown = format!("{c:?}");
    let start = Instant::now();
    let child = c.spawn().with_context(|| format!("spawn {shown}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; status and ru are valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let secs = start.elapsed().as_secs_f64();
    if r != pid {
        bail!("wait4 failed for {shown}");
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{shown} failed (status {status})");
    }
    std::mem::forget(child); // already reaped
    Ok(Measure {
        secs,
        max_rss_kib: ru.ru_maxrss,
    })
}

fn write_pattern(path: &Path, size: u64, seed: u8) -> Result<()> {
    let cap = size.clamp(8192, 1 << 20) as usize;
    let mut f = std::io::BufWriter::with_capacity(cap, std::fs::File::create(path)?);
    // the pattern only as long as needed: the many-files tree writes 50000 small files
    let block: Vec<u8> = (0..(size.min(1 << 20) as usize))
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
        .collect();
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

fn make_tree(root: &Path, small: bool) -> Result<u64> {
    let mut total = 0u64;
    let files = if small { 2000 } else { 5000 };
    for i in 0..files {
        let d = root.join(format!("d{:02}", i % 50));
        std::fs::create_dir_all(&d)?;
        let size = 1024 + (i as u64 * 7919) % (96 * 1024);
        write_pattern(&d.join(format!("f{i}")), size, i as u8)?;
        total += size;
    }
    let big = if small { 4 } else { 8 };
    for i in 0..big {
        let size = 32 << 20;
        write_pattern(&root.join(format!("big{i}")), size, i as u8)?;
        total += size;
    }
    let f = std::fs::File::create(root.join("sparse"))?;
    f.set_len(512 << 20)?;
    Ok(total)
}

/// A SIMH image of 64 KiB records (length, data, length), ending in two tape marks.
fn write_simh(path: &Path, size: u64) -> Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let rec: Vec<u8> = (0..65536usize).map(|i| (i % 251) as u8).collect();
    let len = (rec.len() as u32).to_le_bytes();
    let mut written = 0;
    while written < size {
        f.write_all(&len)?;
        f.write_all(&rec)?;
        f.write_all(&len)?;
        written += rec.len() as u64 + 8;
    }
    f.write_all(&[0; 8])?;
    f.flush()?;
    Ok(())
}

fn cat_cmd(args: &[&Path]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("cat \"$@\" > /dev/null")
        .arg("sh")
        .args(args);
    c
}

fn cat_tree(root: &Path) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("find \"$1\" -type f -exec cat {} + > /dev/null")
        .arg("sh")
        .arg(root);
    c
}

fn row(name: &str, bytes: u64, m: &Measure, reference: Option<&Measure>) {
    let mbs = bytes as f64 / m.secs / 1e6;
    let ratio = reference
        .map(|r| format!("{:.2}x cat", m.secs / r.secs))
        .unwrap_or_default();
    println!(
        "{name:<34} {:>9.4} s {:>9.1} MB/s {:>8.1} MiB RSS  {ratio}",
        m.secs,
        mbs,
        m.max_rss_kib as f64 / 1024.0
    );
}

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let small = args.iter().any(|a| a == "--small");
    let only: Option<&str> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let run_section = |name: &str| only.is_none_or(|o| o == name);
    let keep = args.iter().any(|a| a == "--keep");
    let mut b = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    b.current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "relic"]);
    // only what the bench runs: the driver and the plugins it loads
    for p in ["file", "fs", "tar", "tape-image", "dump"] {
        b.args(["-p", &format!("relic-plugin-{p}")]);
    }
    if !b.status()?.success() {
        bail!("release build failed");
    }
    let relic = root.join("target/release/relic");
    let base = root.join("target/bench");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    let work: PathBuf = base.clone();
    let relic_cmd = |args: &[&std::ffi::OsStr]| {
        let mut c = Command::new(&relic);
        c.arg("-q")
            .args(args)
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .stdout(std::process::Stdio::null());
        c
    };

    println!("relic bench ({})", if small { "small" } else { "full" });
    println!(
        "{:<34} {:>10} {:>14} {:>16}",
        "step", "wall", "throughput", "peak"
    );

    if run_section("tree") {
        // 1. tree round trip
        let tree = work.join("tree");
        std::fs::create_dir_all(&tree)?;
        let bytes = make_tree(&tree, small)?;
        println!(
            "tree: {} MB of file data (plus a 512 MiB sparse file)",
            bytes / 1_000_000
        );
        let cat_ref = measure(cat_tree(&tree))?;
        row("cat tree > /dev/null (reference)", bytes, &cat_ref, None);
        let tarball = work.join("tree.tar");
        let m = measure(relic_cmd(&[
            "create".as_ref(),
            tree.as_os_str(),
            tarball.as_os_str(),
            "--to".as_ref(),
            "tar".as_ref(),
        ]))?;
        row("relic create dir -> tar", bytes, &m, Some(&cat_ref));
        let cat_tar = measure(cat_cmd(&[&tarball]))?;
        let tar_bytes = std::fs::metadata(&tarball)?.len();
        row(
            "cat tree.tar > /dev/null (reference)",
            tar_bytes,
            &cat_tar,
            None,
        );
        let out = work.join("out");
        let m = measure(relic_cmd(&[
            "extract".as_ref(),
            tarball.as_os_str(),
            "-C".as_ref(),
            out.as_os_str(),
        ]))?;
        row("relic extract tar -> dir", tar_bytes, &m, Some(&cat_tar));
        let _ = std::fs::remove_dir_all(&out);
        let _ = std::fs::remove_file(&tarball);
    }

    if run_section("media") {
        // 2. the media layer: every record of a SIMH image, against cat of the same file
        let image = work.join("image.tap");
        let image_size: u64 = if small { 256 << 20 } else { 1 << 30 };
        write_simh(&image, image_size)?;
        let cat_img = measure(cat_cmd(&[&image]))?;
        row("cat image.tap (reference)", image_size, &cat_img, None);
        let m = measure(relic_cmd(&["media".as_ref(), image.as_os_str()]))?;
        row(
            &format!("relic media {} MiB SIMH image", image_size >> 20),
            image_size,
            &m,
            Some(&cat_img),
        );
        println!(
            "media layer: {:.2}x the throughput of cat (goal >= 0.8x)",
            cat_img.secs / m.secs
        );
        let _ = std::fs::remove_file(&image);
    }

    let mut verdict = "not measured";
    if run_section("big") {
        // 3. one big file: peak RSS must stay bounded
        let big_dir = work.join("big");
        std::fs::create_dir_all(&big_dir)?;
        let big_size: u64 = if small { 256 << 20 } else { 2 << 30 };
        write_pattern(&big_dir.join("big.bin"), big_size, 7)?;
        let cat_big = measure(cat_cmd(&[&big_dir.join("big.bin")]))?;
        row("cat big file (reference)", big_size, &cat_big, None);
        let big_tar = work.join("big.tar");
        let m = measure(relic_cmd(&[
            "create".as_ref(),
            big_dir.as_os_str(),
            big_tar.as_os_str(),
            "--to".as_ref(),
            "tar".as_ref(),
        ]))?;
        row(
            &format!("relic create {} MiB file -> tar", big_size >> 20),
            big_size,
            &m,
            Some(&cat_big),
        );
        let limit_kib = 64 * 1024;
        verdict = if m.max_rss_kib < limit_kib {
            "PASS"
        } else {
            "FAIL"
        };
        println!(
            "peak RSS for the {} MiB file: {:.1} MiB (goal < 64 MiB): {verdict}",
            big_size >> 20,
            m.max_rss_kib as f64 / 1024.0
        );
    }
    if run_section("dump") {
        // 4. a Linux dump made by Debian's dump: relic list/extract beside restore -t/-x
        dump_bench(&relic, &work, small)?;
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&base);
    }
    if verdict == "FAIL" {
        bail!("peak RSS goal missed");
    }
    Ok(())
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "command -v {cmd} >/dev/null 2>&1 || test -x /sbin/{cmd} || test -x /usr/sbin/{cmd}"
        ))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Build ext2 images of about 1 GiB with `mke2fs -d`, dump them with Debian's dump (in a
/// private mount namespace with empty mtab/fstab, as fixtures/dump/make.sh does), then time
/// `relic list` against `restore -t` and `relic extract` against `restore -x`. Two trees:
/// ten 100 MiB files and 4000 small ones (data-bound), and ~50000 files of mixed sizes in
/// ~2500 nested directories, the shape of a real system disk (name-bound: `restore -t`
/// and `relic list` both read only the directories, so start-up matters less there).
fn dump_bench(relic: &Path, work: &Path, small: bool) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !(root && have("dump") && have("restore") && have("mke2fs") && have("unshare")) {
        println!("dump bench skipped: needs root, dump, restore, mke2fs and unshare");
        return Ok(());
    }
    dump_bench_tree(relic, work, small, false)?;
    dump_bench_tree(relic, work, small, true)
}

fn dump_bench_tree(relic: &Path, work: &Path, small: bool, many: bool) -> Result<()> {
    let tree = work.join("dtree");
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(&tree)?;
    let mut bytes = 0;
    let files;
    if many {
        // sizes spread over 0 B - 256 KiB (mean ~20 KiB), three directory levels
        let n: u64 = if small { 10_000 } else { 50_000 };
        files = n;
        for i in 0..n {
            let d = tree.join(format!(
                "p{:02}/q{:02}/r{:02}",
                i % 17,
                (i / 17) % 13,
                (i / 221) % 11
            ));
            std::fs::create_dir_all(&d)?;
            let size = match i % 10 {
                0..=5 => (i * 7919) % 4096,
                6..=8 => 4096 + (i * 104_729) % (32 * 1024),
                _ => 32 * 1024 + (i * 1_299_709) % (224 * 1024),
            };
            write_pattern(&d.join(format!("file-{i}.dat")), size, i as u8)?;
            bytes += size;
        }
    } else {
        let (big, n_small) = if small { (4u64, 1000) } else { (10u64, 4000) };
        files = big + n_small;
        for i in 0..big {
            write_pattern(&tree.join(format!("big{i}")), 100 << 20, i as u8)?;
            bytes += 100 << 20;
        }
        for i in 0..n_small {
            let d = tree.join(format!("d{:02}", i % 40));
            std::fs::create_dir_all(&d)?;
            let size = 512 + (i * 7919) % (32 * 1024);
            write_pattern(&d.join(format!("f{i}")), size, i as u8)?;
            bytes += size;
        }
    }
    let img = work.join("fs.img");
    // room for the data, the inodes and the per-file block rounding
    let size_mb = bytes / (1 << 20) + bytes / (1 << 20) / 5 + files * 8 / 1024 + 64;
    let st = Command::new("mke2fs")
        .args(["-q", "-t", "ext2", "-b", "4096", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg(format!("{size_mb}M"))
        .status()?;
    if !st.success() {
        bail!("mke2fs failed");
    }
    std::fs::remove_dir_all(&tree)?;
    let etc = work.join("fake-etc");
    std::fs::create_dir_all(&etc)?;
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cp -a /etc/. {}/ 2>/dev/null; rm -f {0}/mtab {0}/fstab; : > {0}/mtab; : > {0}/fstab",
            etc.display()
        ))
        .status();
    let dumpfile = work.join("bench.dump");
    let st = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc && exec dump -q -0 -b 64 -f \"$1\" \"$2\" 2>/dev/null",
        ])
        .arg(&etc)
        .arg(&dumpfile)
        .arg(&img)
        .status()?;
    let _ = std::fs::remove_file(&img);
    if !st.success() {
        println!("dump bench skipped: dump failed in a private mount namespace");
        return Ok(());
    }
    let dsize = std::fs::metadata(&dumpfile)?.len();
    println!(
        "linux dump: {} MB ({files} files, {})",
        dsize / 1_000_000,
        if many { "many files" } else { "few big files" }
    );
    let quiet = |mut c: Command| {
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .stdin(std::process::Stdio::null());
        c
    };
    // Listing takes milliseconds: medians of 21 runs. relic runs with its plugin cache
    // warm (the state after the first command of an installation) and, for comparison,
    // with the cache off (every library opened and its layout checked).
    let cache = work.join("plugin-cache.json");
    let relic_cmd = |args: &[&str], cache_setting: &std::ffi::OsStr| {
        let mut c = Command::new(relic);
        c.args(args)
            .arg(&dumpfile)
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .env("RELIC_PLUGIN_CACHE", cache_setting);
        quiet(c)
    };
    let m_rt = measure_median(21, || {
        let mut rt = Command::new("restore");
        rt.arg("-t").arg("-f").arg(&dumpfile);
        quiet(rt)
    })?;
    row("restore -t (median of 21)", dsize, &m_rt, None);
    let m_rl = measure_median(21, || relic_cmd(&["-q", "list"], cache.as_os_str()))?;
    row("relic list (median of 21)", dsize, &m_rl, None);
    let m_cold = measure_median(21, || relic_cmd(&["-q", "list"], "off".as_ref()))?;
    row("relic list, plugin cache off", dsize, &m_cold, None);
    let m_long = measure_median(5, || relic_cmd(&["-q", "list", "-l"], cache.as_os_str()))?;
    row("relic list -l (every header)", dsize, &m_long, None);
    println!(
        "list: relic takes {:.2}x the time of restore -t (goal < 1); {:.2}x with the plugin cache off; list -l {:.2}x",
        m_rl.secs / m_rt.secs,
        m_cold.secs / m_rt.secs,
        m_long.secs / m_rt.secs
    );
    let rx_dir = work.join("rx");
    let m_rx = measure_fair(|| {
        let _ = std::fs::remove_dir_all(&rx_dir);
        let _ = std::fs::create_dir_all(&rx_dir);
        let mut rx = Command::new("restore");
        rx.arg("-x")
            .arg("-a")
            .arg("-f")
            .arg(&dumpfile)
            .current_dir(&rx_dir);
        quiet(rx)
    })?;
    row("restore -x (best of 2, after sync)", dsize, &m_rx, None);
    let _ = std::fs::remove_dir_all(&rx_dir);
    let ex_dir = work.join("ex");
    let m_ex = measure_fair(|| {
        let _ = std::fs::remove_dir_all(&ex_dir);
        let mut ex = Command::new(relic);
        ex.args(["-q", "extract"])
            .arg(&dumpfile)
            .arg("-C")
            .arg(&ex_dir)
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .env("RELIC_PLUGIN_CACHE", &cache);
        quiet(ex)
    })?;
    row("relic extract (best of 2, after sync)", dsize, &m_ex, None);
    println!(
        "extract: relic takes {:.2}x the time of restore -x (goal < 1)",
        m_ex.secs / m_rx.secs
    );
    let _ = std::fs::remove_dir_all(&ex_dir);
    let _ = std::fs::remove_file(&dumpfile);
    Ok(())
}
