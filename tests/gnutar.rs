//! GNU tar is the independent peer: it must extract relic's tar archives into the same
//! tree, and relic must extract GNU tar's posix and gnu (sparse) archives into the same tree.

use crate::util::*;

#[test]
fn gnu_tar_extracts_relics_pax_archive_identically() {
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    let out = t.path().join("out");
    let xattrs = xattrs_supported(t.path());
    build_rich_tree(&src, xattrs);
    let tarball = t.path().join("relic.tar");
    relic(&[
        os("create"),
        src.as_os_str(),
        tarball.as_os_str(),
        os("--to"),
        os("tar"),
    ])
    .ok();
    std::fs::create_dir(&out).expect("mkdir");
    let o = run(
        "tar",
        &[
            os("--xattrs"),
            os("--xattrs-include=*"),
            os("-xpf"),
            tarball.as_os_str(),
            os("-C"),
            out.as_os_str(),
        ],
    );
    assert_eq!(o.code, 0, "GNU tar failed: {}", o.stderr);
    assert_same_tree(
        &src,
        &out,
        &Compare {
            ns: true,
            xattrs,
            holes: true,
        },
    );
}

fn relic_extracts_gnu_tar(format: &str) {
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    let out = t.path().join("out");
    let xattrs = xattrs_supported(t.path()) && format == "posix";
    build_rich_tree(&src, xattrs);
    let tarball = t.path().join("gnu.tar");
    let mut args = vec![os("--sparse"), os("--format"), os(format)];
    if xattrs {
        args.push(os("--xattrs"));
    }
    args.extend([
        os("-cf"),
        tarball.as_os_str(),
        os("-C"),
        src.as_os_str(),
        os("."),
    ]);
    let o = run("tar", &args);
    assert_eq!(o.code, 0, "GNU tar failed: {}", o.stderr);
    relic(&[
        os("extract"),
        tarball.as_os_str(),
        os("-C"),
        out.as_os_str(),
    ])
    .ok();
    assert_same_tree(
        &src,
        &out,
        &Compare {
            ns: format == "posix",
            xattrs,
            holes: true,
        },
    );
}

#[test]
fn relic_extracts_gnu_tar_posix_sparse_identically() {
    relic_extracts_gnu_tar("posix");
}

#[test]
fn relic_extracts_gnu_tar_gnu_sparse_identically() {
    relic_extracts_gnu_tar("gnu");
}
