//! Hostile entries: the sink never writes outside its target, refuses each such entry with
//! a warning naming it, and carries on with the entries after it.
//!
//! Every test extracts into `sandbox/target` next to an empty `sandbox/outside` and a
//! `sandbox/victim` file, then checks that the sandbox holds exactly those three, that
//! `outside` is still empty and that `victim` is untouched (content and link count).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use relic_model::{Entry, EntryKind, VolumeInfo};
use relic_plugin_sdk::testing::{write_all, Member};
use relic_plugin_sdk::Options;

use crate::common::*;

pub struct Sandbox {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub target: PathBuf,
    pub outside: PathBuf,
    pub victim: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        let outside = root.join("outside");
        fs::create_dir(&outside).expect("mkdir outside");
        let victim = root.join("victim");
        fs::write(&victim, b"original").expect("write victim");
        Sandbox {
            target: root.join("target"),
            outside,
            victim,
            root,
            _tmp: tmp,
        }
    }

    /// Nothing escaped: only target, outside and victim in the sandbox, outside empty,
    /// victim unchanged and not linked from anywhere.
    pub fn assert_contained(&self) {
        let mut names: Vec<_> = fs::read_dir(&self.root)
            .expect("list sandbox")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
            .collect();
        names.sort();
        let mut expected = vec!["outside", "victim"];
        if self.target.exists() {
            expected.push("target");
        }
        expected.sort();
        assert_eq!(names, expected, "something was written next to the target");
        assert_eq!(
            fs::read_dir(&self.outside).expect("list outside").count(),
            0,
            "something was written outside"
        );
        let v = fs::symlink_metadata(&self.victim).expect("victim");
        assert!(v.file_type().is_file());
        assert_eq!(v.nlink(), 1, "the victim was hard-linked");
        assert_eq!(v.mode() & 0o7777, 0o666 & !umask());
        assert_eq!(fs::read(&self.victim).expect("read victim"), b"original");
    }

    pub fn extract(&self, members: &[Member], opts: &Options) -> std::sync::Arc<RecordingHost> {
        let host = RecordingHost::new();
        let mut w = open_writer(&self.target, opts, &host);
        write_all(w.as_mut(), &VolumeInfo::default(), members).expect("the run goes on");
        host
    }
}

fn umask() -> u32 {
    // SAFETY: umask has no preconditions; it is set back at once.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    }
}

pub fn file(path: &[u8], data: &[u8]) -> Member {
    let mut e = Entry::new(path.to_vec(), EntryKind::File);
    e.size = data.len() as u64;
    Member::new(e, data.to_vec())
}

pub fn symlink(path: &[u8], target: &[u8]) -> Member {
    let mut e = Entry::new(path.to_vec(), EntryKind::Symlink);
    e.link_target = Some(target.to_vec());
    Member::new(e, vec![])
}

pub fn hardlink(path: &[u8], target: &[u8]) -> Member {
    let mut e = Entry::new(path.to_vec(), EntryKind::HardLink);
    e.link_target = Some(target.to_vec());
    Member::new(e, vec![])
}

pub fn dir(path: &[u8]) -> Member {
    Member::new(Entry::new(path.to_vec(), EntryKind::Dir), vec![])
}

fn bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_encoded_bytes().to_vec()
}

/// The entry after the hostile ones is still extracted.
fn assert_went_on(s: &Sandbox) {
    assert_eq!(
        fs::read(s.target.join("after.txt")).expect("later entry extracted"),
        b"fine"
    );
}

#[test]
fn dot_dot_is_refused() {
    let s = Sandbox::new();
    let host = s.extract(
        &[
            file(b"../x", b"evil"),
            file(b"a/../../victim", b"evil"),
            file(b"after.txt", b"fine"),
        ],
        &Options::new(),
    );
    s.assert_contained();
    assert!(
        host.has(&["refusing '../x'", "path contains '..'"]),
        "{:?}",
        host.all()
    );
    assert!(
        host.has(&["refusing 'a/../../victim'", ".."]),
        "{:?}",
        host.all()
    );
    assert_went_on(&s);
}

#[test]
fn absolute_names_are_refused_unless_allowed() {
    let s = Sandbox::new();
    let abs = s.outside.join("x");
    let etc_x_existed = Path::new("/etc/x").exists();
    let host = s.extract(
        &[
            file(b"/etc/x", b"evil"),
            file(&bytes(&abs), b"evil"),
            file(b"after.txt", b"fine"),
        ],
        &Options::new(),
    );
    s.assert_contained();
    assert!(
        host.has(&["refusing '/etc/x'", "absolute"]),
        "{:?}",
        host.all()
    );
    assert!(
        host.has(&[&format!("refusing '{}'", abs.display()), "absolute"]),
        "{:?}",
        host.all()
    );
    assert_eq!(
        Path::new("/etc/x").exists(),
        etc_x_existed,
        "/etc/x was not touched"
    );
    assert_went_on(&s);

    // allowed: written exactly where it says (a temp dir this test owns)
    let host = s.extract(
        &[file(&bytes(&abs), b"allowed")],
        &Options::new().with("absolute-names", ""),
    );
    assert_eq!(fs::read(&abs).expect("absolute file"), b"allowed");
    assert!(host.all().is_empty(), "{:?}", host.all());
    // ... but still never through a symlink
    fs::remove_file(&abs).expect("rm");
    std::os::unix::fs::symlink(&s.root, s.outside.join("up")).expect("symlink");
    let through = s.outside.join("up/victim");
    let host = s.extract(
        &[file(&bytes(&through), b"evil")],
        &Options::new().with("absolute-names", ""),
    );
    assert!(
        host.has(&["refusing", "up/victim'", "is a symlink"]),
        "{:?}",
        host.all()
    );
    fs::remove_file(s.outside.join("up")).expect("rm");
    s.assert_contained();
}

#[test]
fn a_symlink_to_outside_does_not_redirect_later_entries() {
    let s = Sandbox::new();
    let host = s.extract(
        &[
            symlink(b"link", &bytes(&s.outside)),
            file(b"link/evil", b"evil"),
            dir(b"link/sub"),
            symlink(b"link/sym", b"x"),
            hardlink(b"link/hl", b"after.txt"),
            file(b"after.txt", b"fine"),
        ],
        &Options::new(),
    );
    s.assert_contained();
    for name in ["link/evil", "link/sub", "link/sym"] {
        assert!(
            host.has(&[&format!("refusing '{name}'"), "parent 'link' is a symlink"]),
            "{name}: {:?}",
            host.all()
        );
    }
    assert!(host.has(&["refusing 'link/hl'"]), "{:?}", host.all());
    // the symlink itself is extracted as what it is
    assert_eq!(
        fs::read_link(s.target.join("link")).expect("readlink"),
        s.outside
    );
    assert_went_on(&s);
}

#[test]
fn a_symlink_to_dot_dot_does_not_redirect_later_entries() {
    let s = Sandbox::new();
    let host = s.extract(
        &[
            symlink(b"link", b".."),
            file(b"link/evil", b"evil"),
            file(b"link/victim", b"evil"),
            file(b"after.txt", b"fine"),
        ],
        &Options::new(),
    );
    s.assert_contained();
    assert!(
        host.has(&["refusing 'link/evil': parent 'link' is a symlink"]),
        "{:?}",
        host.all()
    );
    assert!(
        host.has(&["refusing 'link/victim': parent 'link' is a symlink"]),
        "{:?}",
        host.all()
    );
    assert_went_on(&s);
}

#[test]
fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
    let s = Sandbox::new();
    let host = s.extract(
        &[
            symlink(b"f", &bytes(&s.victim)),
            file(b"f", b"new content"),
            symlink(b"g", b"../victim"),
            dir(b"g"),
        ],
        &Options::new(),
    );
    s.assert_contained();
    assert!(
        host.all().is_empty(),
        "replacing is not an error: {:?}",
        host.all()
    );
    let m = fs::symlink_metadata(s.target.join("f")).expect("lstat");
    assert!(m.file_type().is_file());
    assert_eq!(fs::read(s.target.join("f")).expect("read"), b"new content");
    assert!(fs::symlink_metadata(s.target.join("g"))
        .expect("lstat")
        .is_dir());
}

#[test]
fn hard_links_out_of_the_target_are_refused() {
    let s = Sandbox::new();
    let host = s.extract(
        &[
            hardlink(b"h1", b"../victim"),
            hardlink(b"h2", b"../outside"),
            hardlink(b"h3", &bytes(&s.victim)),
            symlink(b"up", b".."),
            hardlink(b"h4", b"up/victim"),
            file(b"after.txt", b"fine"),
        ],
        &Options::new(),
    );
    s.assert_contained();
    assert!(
        host.has(&["refusing 'h1'", "hard link target '../victim'", ".."]),
        "{:?}",
        host.all()
    );
    assert!(
        host.has(&["refusing 'h2'", "'../outside'"]),
        "{:?}",
        host.all()
    );
    assert!(host.has(&["refusing 'h3'", "absolute"]), "{:?}", host.all());
    assert!(
        host.has(&["refusing 'h4'", "parent 'up' is a symlink"]),
        "{:?}",
        host.all()
    );
    for h in ["h1", "h2", "h3", "h4"] {
        assert!(
            fs::symlink_metadata(s.target.join(h)).is_err(),
            "{h} exists"
        );
    }
    assert_went_on(&s);
}

#[test]
fn a_hard_link_to_a_symlink_to_outside_is_refused() {
    let s = Sandbox::new();
    let host = s.extract(
        &[
            symlink(b"s", &bytes(&s.victim)),
            hardlink(b"h", b"s"),
            file(b"h", b"evil"),
            file(b"after.txt", b"fine"),
        ],
        &Options::new(),
    );
    s.assert_contained();
    assert!(
        host.has(&["refusing 'h'", "hard link target 's' is a symlink"]),
        "{:?}",
        host.all()
    );
    // the later file of that name is an ordinary new file inside the target
    assert_eq!(fs::read(s.target.join("h")).expect("read"), b"evil");
    assert_went_on(&s);
}

#[test]
fn hard_links_inside_the_target_work_and_missing_targets_are_refused() {
    let s = Sandbox::new();
    let host = s.extract(
        &[
            file(b"d/a", b"shared"),
            hardlink(b"e/b", b"d/a"),
            hardlink(b"c", b"no/such"),
            hardlink(b"c2", b"d"),
        ],
        &Options::new(),
    );
    s.assert_contained();
    let a = fs::metadata(s.target.join("d/a")).expect("a");
    assert_eq!(
        a.ino(),
        fs::metadata(s.target.join("e/b")).expect("b").ino()
    );
    assert!(
        host.has(&["refusing 'c'", "parent 'no' does not exist"]),
        "{:?}",
        host.all()
    );
    assert!(
        host.has(&["refusing 'c2'", "is a directory"]),
        "{:?}",
        host.all()
    );
}

#[test]
fn nul_bytes_and_a_replaced_root_are_refused() {
    let s = Sandbox::new();
    let host = s.extract(
        &[
            file(b"a\0b", b"x"),
            file(b".", b"x"),
            file(b"", b"x"),
            file(b"after.txt", b"fine"),
        ],
        &Options::new(),
    );
    s.assert_contained();
    assert!(host.has(&["NUL"]), "{:?}", host.all());
    assert!(
        host.has(&["refusing '.'", "cannot replace the target directory"]),
        "{:?}",
        host.all()
    );
    assert_went_on(&s);
}

#[test]
fn a_parent_that_is_a_file_is_refused() {
    let s = Sandbox::new();
    let host = s.extract(&[file(b"f", b"x"), file(b"f/g", b"y")], &Options::new());
    s.assert_contained();
    assert!(
        host.has(&["refusing 'f/g': parent 'f' is not a directory"]),
        "{:?}",
        host.all()
    );
}
