//! Ingest, materialise, read back and export.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{Fixture, Spec, make_tree};
use rstore_store::{Access, Attributes, IngestOptions, NoReporter, Node, ObjectKind, StoreError, TarOptions};

fn sample(f: &Fixture) -> std::path::PathBuf {
    let src = f.path("src");
    make_tree(
        &src,
        &[
            ("a.txt", Spec::File(b"hello\n")),
            ("bin/tool", Spec::Exec(b"#!/bin/sh\necho hi\n")),
            ("bin/same", Spec::File(b"hello\n")),
            ("lib/libx.so", Spec::Link("libx.so.1")),
            ("lib/libx.so.1", Spec::File(&[0u8, 1, 2, 3, 255])),
            ("empty", Spec::Dir),
            ("deep/er/still/file", Spec::File(b"")),
        ],
    );
    src
}

#[test]
fn ingest_reads_back_every_kind() {
    let f = Fixture::new();
    let src = sample(&f);
    let out = f.ingest(&src);
    assert_eq!((out.files, out.symlinks, out.directories), (5, 1, 7));
    assert_eq!(out.logical_bytes, 6 + 18 + 6 + 5);
    // "hello\n" appears twice but is stored once; the empty file is a blob too.
    assert_eq!(out.new_blobs, 4);

    let top = f.store.read_tree(&out.root).unwrap();
    let names: Vec<String> = top.entries().iter().map(|e| e.name.to_string()).collect();
    assert_eq!(names, ["a.txt", "bin", "deep", "empty", "lib"]);
    let (node, mode) = f.store.resolve(&out.root, "bin/tool").unwrap();
    assert!(matches!(node, Node::File { size: 18, .. }));
    assert_eq!(mode, 0o755);
    assert_eq!(f.store.resolve(&out.root, "a.txt").unwrap().1, 0o644);
    match f.store.resolve(&out.root, "lib/libx.so").unwrap().0 {
        Node::Symlink { target } => assert_eq!(target.as_bytes(), b"libx.so.1"),
        other => panic!("expected a symlink, got {other:?}"),
    }
    let (empty, _) = f.store.resolve(&out.root, "empty").unwrap();
    let Node::Directory { digest, .. } = empty else { panic!("empty is a directory") };
    assert!(f.store.read_tree(&digest).unwrap().entries().is_empty());

    let mut data = Vec::new();
    f.store.open_file(&out.root, "lib/libx.so.1").unwrap().read_to_end(&mut data).unwrap();
    assert_eq!(data, [0u8, 1, 2, 3, 255]);
    assert!(matches!(f.store.open_file(&out.root, "bin"), Err(StoreError::NotAFile { .. })));
    assert!(matches!(f.store.open_file(&out.root, "nope"), Err(StoreError::PathNotFound { .. })));
    assert!(matches!(f.store.resolve(&out.root, "a.txt/x"), Err(StoreError::PathNotFound { .. })));
    let info = f.store.tree_info(&out.root).unwrap().unwrap();
    assert_eq!(info.files, 5);
}

#[test]
fn timestamps_owners_and_other_mode_bits_do_not_matter_in_plain_trees() {
    let f = Fixture::new();
    let src = sample(&f);
    let before = f.ingest(&src).root;
    let file = src.join("a.txt");
    fs::File::options().write(true).open(&file).unwrap().set_modified(std::time::UNIX_EPOCH).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(f.ingest(&src).root, before);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o700)).unwrap();
    assert_ne!(f.ingest(&src).root, before, "the executable bit is content");
}

#[test]
fn materialise_read_only_hardlinks_and_reingests_to_the_same_root() {
    let f = Fixture::new();
    let src = sample(&f);
    let root = f.ingest(&src).root;
    let dest = f.path("out");
    let first = f.store.materialise(&root, &dest, Access::ReadOnly, &NoReporter).unwrap();
    assert_eq!(first.files, 5);
    assert!(first.checked_out_bytes > 0);
    assert_eq!(fs::read(dest.join("a.txt")).unwrap(), b"hello\n");
    assert_eq!(fs::read_link(dest.join("lib/libx.so")).unwrap().to_str(), Some("libx.so.1"));
    assert!(dest.join("empty").is_dir());
    let tool = fs::metadata(dest.join("bin/tool")).unwrap();
    assert_eq!(tool.permissions().mode() & 0o7777, 0o555);
    assert_eq!(fs::metadata(dest.join("a.txt")).unwrap().permissions().mode() & 0o7777, 0o444);
    assert_eq!(fs::metadata(&dest).unwrap().permissions().mode() & 0o7777, 0o555);
    // Hardlinked from the checkout cache: the same inode serves both copies.
    let again = f.path("again");
    let second = f.store.materialise(&root, &again, Access::ReadOnly, &NoReporter).unwrap();
    assert_eq!(second.checked_out_bytes, 0, "second materialisation decompresses nothing");
    assert_eq!(second.copied_files, 0);
    assert_eq!(fs::metadata(again.join("bin/tool")).unwrap().ino(), tool.ino());
    assert_eq!(fs::metadata(dest.join("bin/tool")).unwrap().nlink(), 3, "checkout cache + two trees");
    assert_eq!(f.ingest(&dest).root, root);
    assert!(matches!(
        f.store.materialise(&root, &dest, Access::ReadOnly, &NoReporter),
        Err(StoreError::DestinationExists { .. })
    ));
}

#[test]
fn materialise_writable_gives_independent_files() {
    let f = Fixture::new();
    let src = sample(&f);
    let root = f.ingest(&src).root;
    let ro = f.path("ro");
    f.store.materialise(&root, &ro, Access::ReadOnly, &NoReporter).unwrap();
    let rw = f.path("rw");
    f.store.materialise(&root, &rw, Access::Writable, &NoReporter).unwrap();
    assert_ne!(fs::metadata(rw.join("a.txt")).unwrap().ino(), fs::metadata(ro.join("a.txt")).unwrap().ino());
    assert_eq!(fs::metadata(rw.join("bin/tool")).unwrap().permissions().mode() & 0o777, 0o755);
    fs::write(rw.join("a.txt"), b"changed").unwrap();
    fs::write(rw.join("new"), b"new").unwrap();
    assert_eq!(fs::read(ro.join("a.txt")).unwrap(), b"hello\n");
    assert_eq!(f.ingest(&f.path("src")).root, root);
    let report = f.store.verify(&Default::default(), &NoReporter).unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn checkout_directory_is_stable_and_complete() {
    let f = Fixture::new();
    let src = sample(&f);
    let root = f.ingest(&src).root;
    let a = f.store.checkout(&root, &NoReporter).unwrap();
    let b = f.store.checkout(&root, &NoReporter).unwrap();
    assert_eq!(a, b);
    assert!(a.starts_with(f.store.dir()));
    assert_eq!(fs::read(a.join("bin/same")).unwrap(), b"hello\n");
    assert_eq!(f.ingest(&a).root, root);
}

#[test]
fn special_files_are_rejected_with_their_path() {
    let f = Fixture::new();
    let src = f.path("special");
    make_tree(&src, &[("ok", Spec::File(b"x"))]);
    let fifo = src.join("pipe");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    match f.store.ingest(&src, &IngestOptions::default(), &NoReporter) {
        Err(StoreError::UnsupportedFileType { path, kind }) => {
            assert_eq!(path, fifo);
            assert_eq!(kind, "FIFO");
        }
        other => panic!("expected a FIFO error, got {other:?}"),
    }
    fs::remove_file(&fifo).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    let err = f.store.ingest(&src, &IngestOptions::default(), &NoReporter).unwrap_err();
    assert!(err.to_string().contains("socket"), "{err}");
    assert!(matches!(
        f.store.ingest(&src.join("ok"), &IngestOptions::default(), &NoReporter),
        Err(StoreError::NotADirectory { .. })
    ));
    // Nothing was recorded and nothing half-written is visible.
    assert!(f.store.verify(&Default::default(), &NoReporter).unwrap().is_clean());
}

#[test]
fn fakeroot_trees_record_mode_and_owner() {
    let f = Fixture::new();
    let src = f.path("fr");
    make_tree(&src, &[("etc/shadow", Spec::File(b"root:*:"))]);
    let shadow = src.join("etc/shadow");
    fs::set_permissions(&shadow, fs::Permissions::from_mode(0o640)).unwrap();
    let full = IngestOptions { attributes: Attributes::Full, ..Default::default() };
    let plain_root = f.ingest(&src).root;
    let a = f.store.ingest(&src, &full, &NoReporter).unwrap().root;
    assert_ne!(a, plain_root);
    let (_, mode) = f.store.resolve(&a, "etc/shadow").unwrap();
    assert_eq!(mode, 0o640);
    fs::set_permissions(&shadow, fs::Permissions::from_mode(0o600)).unwrap();
    let b = f.store.ingest(&src, &full, &NoReporter).unwrap().root;
    assert_ne!(a, b, "full trees record every permission bit");
    assert_eq!(f.ingest(&src).root, plain_root, "plain trees ignore non-exec bits");

    let tree = f.store.read_tree(&b).unwrap();
    assert_eq!(tree.attributes(), Attributes::Full);
    let owner = tree.entries()[0].owner.unwrap();
    let meta = fs::metadata(src.join("etc")).unwrap();
    assert_eq!((owner.uid, owner.gid), (meta.uid(), meta.gid()));
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::lchown(&shadow, Some(4321), Some(42)).unwrap();
        let c = f.store.ingest(&src, &full, &NoReporter).unwrap().root;
        assert_ne!(b, c, "owners are part of full trees");
        let mut tar = Vec::new();
        f.store.export_tar(&c, &mut tar, &TarOptions::default()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entry =
            archive.entries().unwrap().map(|e| e.unwrap()).find(|e| e.path().unwrap().ends_with("shadow")).unwrap();
        assert_eq!((entry.header().uid().unwrap(), entry.header().gid().unwrap()), (4321, 42));
        assert_eq!(entry.header().mode().unwrap(), 0o600);
    }
}

#[test]
fn tar_export_is_deterministic_and_complete() {
    let f = Fixture::new();
    let src = sample(&f);
    let root = f.ingest(&src).root;
    let mut one = Vec::new();
    f.store.export_tar(&root, &mut one, &TarOptions::default()).unwrap();
    // A copy with other mtimes, made later, exports to the same bytes.
    let copy = f.path("copy");
    f.store.materialise(&root, &copy, Access::Writable, &NoReporter).unwrap();
    fs::File::options().write(true).open(copy.join("a.txt")).unwrap().set_modified(std::time::UNIX_EPOCH).unwrap();
    let copy_root = f.ingest(&copy).root;
    let mut two = Vec::new();
    f.store.export_tar(&copy_root, &mut two, &TarOptions::default()).unwrap();
    assert_eq!(one, two);

    let mut archive = tar::Archive::new(one.as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if path == "bin/tool" {
            assert_eq!(h.mode().unwrap(), 0o755);
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            assert_eq!(body, "#!/bin/sh\necho hi\n");
        }
        seen.push(path);
    }
    assert_eq!(
        seen,
        [
            "a.txt",
            "bin/",
            "bin/same",
            "bin/tool",
            "deep/",
            "deep/er/",
            "deep/er/still/",
            "deep/er/still/file",
            "empty/",
            "lib/",
            "lib/libx.so",
            "lib/libx.so.1"
        ]
    );
    let mut later = Vec::new();
    f.store.export_tar(&root, &mut later, &TarOptions { mtime: 1_700_000_000 }).unwrap();
    assert_ne!(later, one);
}

#[test]
fn tar_export_stops_at_a_corrupt_blob() {
    let f = Fixture::new();
    let src = sample(&f);
    let root = f.ingest(&src).root;
    let Node::File { digest, .. } = f.store.resolve(&root, "bin/tool").unwrap().0 else { unreachable!() };
    let path = f.store.debug_object_path(ObjectKind::Blob, digest.digest());
    // Replace the blob with a valid zstd frame of other contents.
    fs::write(&path, zstd::bulk::compress(b"#!/bin/sh\necho HI\n", 3).unwrap()).unwrap();
    let err = f.store.export_tar(&root, &mut Vec::new(), &TarOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::CorruptObject { kind: ObjectKind::Blob, .. }), "{err:?}");
}

#[test]
fn large_files_take_the_streaming_path() {
    let f = Fixture::new();
    let src = f.path("big");
    fs::create_dir_all(&src).unwrap();
    let mut rng = common::Rng(7);
    let mut data = rng.bytes(1 << 20);
    data.extend(std::iter::repeat_n(b'z', 12 << 20));
    fs::write(src.join("blob.bin"), &data).unwrap();
    let out = f.ingest(&src);
    assert_eq!(out.logical_bytes, data.len() as u64);
    assert!(out.stored_bytes < data.len() as u64 / 4, "compressed");
    let Node::File { digest, .. } = f.store.resolve(&out.root, "blob.bin").unwrap().0 else { unreachable!() };
    assert_eq!(digest, rstore_store::BlobDigest::of_contents(&data));
    assert_eq!(f.store.read_blob(&digest).unwrap(), data);
    let raw = f.store.read_raw_object(ObjectKind::Blob, digest.digest()).unwrap();
    assert_eq!(zstd::bulk::decompress(&raw, data.len()).unwrap(), data);
    // Objects are read-only from the start, whichever way they were written (this blob
    // streamed, the tree from memory).
    f.ingest(&sample(&f));
    let mut objects = 0;
    for kind in ["blobs", "trees"] {
        for shard in fs::read_dir(f.path("store/objects-v1").join(kind)).unwrap() {
            for object in fs::read_dir(shard.unwrap().path()).unwrap() {
                let object = object.unwrap();
                assert_eq!(object.metadata().unwrap().mode() & 0o7777, 0o444, "{}", object.path().display());
                objects += 1;
            }
        }
    }
    assert!(objects > 5, "{objects} objects");
}

#[test]
fn materialise_onto_another_filesystem_copies() {
    let shm = std::path::Path::new("/dev/shm");
    let f = Fixture::new();
    let same_fs = fs::metadata(shm).map(|m| m.dev() == fs::metadata(f.dir.path()).unwrap().dev()).unwrap_or(true);
    if same_fs {
        return; // no second filesystem to try
    }
    let src = sample(&f);
    let root = f.ingest(&src).root;
    let other = tempfile::tempdir_in(shm).unwrap();
    let dest = other.path().join("out");
    let out = f.store.materialise(&root, &dest, Access::ReadOnly, &NoReporter).unwrap();
    assert_eq!(out.copied_files, out.files, "hardlinks cannot cross filesystems");
    assert_eq!(fs::metadata(dest.join("bin/tool")).unwrap().permissions().mode() & 0o777, 0o555);
    assert_eq!(f.ingest(&dest).root, root);
    rstore_store::remove_tree_forcibly(&dest).unwrap();
}

#[test]
fn overlay_checkouts_are_verified_and_collected() {
    let f = Fixture::new();
    let src = sample(&f);
    let root = f.ingest(&src).root;
    let lower = f.store.checkout_for_overlay(&root, rstore_store::TaskIds::IDENTITY).unwrap().dir;
    assert_eq!(fs::metadata(lower.join("a.txt")).unwrap().permissions().mode() & 0o777, 0o644);
    assert_eq!(f.ingest(&lower).root, root);
    let report = f.store.verify(&Default::default(), &NoReporter).unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.checkout_files, 4 + 5, "four exact copies, five files in the exact tree");
    assert!(f.store.stats().unwrap().checkout_bytes > 0);
    // Nothing roots the tree: its overlay checkout goes with it.
    let gc = f.store.gc(&Default::default(), &NoReporter).unwrap();
    assert!(gc.removed_checkouts >= 5, "{gc:?}");
    assert!(!lower.exists());
}

/// A log file is added by path from a directory a task could write: a symlink there is
/// refused instead of read through, and a FIFO is refused without blocking.
#[test]
fn add_blob_file_refuses_symlinks_and_fifos() {
    let f = Fixture::new();
    let dir = f.path("logs");
    fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    fs::write(&secret, b"not for the store\n").unwrap();
    let link = dir.join("log.do_compile");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    assert!(f.store.add_blob_file(&link).is_err(), "a symlink was followed");

    let fifo = dir.join("log.do_install");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    match f.store.add_blob_file(&fifo) {
        Err(StoreError::NotARegularFile { path }) => assert_eq!(path, fifo),
        other => panic!("expected NotARegularFile, got {other:?}"),
    }

    let plain = dir.join("log.do_configure");
    fs::write(&plain, b"configured\n").unwrap();
    assert!(f.store.add_blob_file(&plain).is_ok());
}

/// Exact checkouts for a root caller's tasks: owners shifted into the tasks' range, and
/// no setuid bit or world-writable directory on the host, whatever the tree recorded:
/// those modes are listed for the sandbox to show them to the task. The checkout
/// directories are private to the store's owner besides.
#[test]
fn overlay_checkouts_belong_to_the_task_range_and_withhold_setuid_bits() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED: shifted owners need root");
        return;
    }
    let f = Fixture::new();
    let src = f.path("image");
    make_tree(
        &src,
        &[
            ("bin/su", Spec::Exec(b"#!/bin/sh\n")),
            ("bin/ping", Spec::Exec(b"#!/bin/sh\n")),
            ("tmp", Spec::Dir),
            ("var/mail", Spec::Dir),
            ("home/user/f", Spec::File(b"x")),
            ("home/user/shared", Spec::File(b"y")),
        ],
    );
    for (path, mode) in [("bin/su", 0o4755), ("tmp", 0o1777), ("var/mail", 0o2775), ("home/user/shared", 0o666)] {
        fs::set_permissions(src.join(path), fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::lchown(src.join("home/user/f"), Some(1000), Some(1000)).unwrap();
    let full = IngestOptions { attributes: Attributes::Full, ..Default::default() };
    let root = f.store.ingest(&src, &full, &NoReporter).unwrap().root;

    let ids = rstore_store::TaskIds { uid: 0x5000_0000, gid: 0x5000_0000 };
    let checkout = f.store.checkout_for_overlay(&root, ids).unwrap();
    let lower = checkout.dir.clone();
    let meta = |rel: &str| fs::symlink_metadata(lower.join(rel)).unwrap();
    assert_eq!((meta("bin/su").uid(), meta("bin/su").mode() & 0o7777), (ids.uid, 0o755));
    assert_eq!(meta("bin/ping").mode() & 0o7777, 0o755);
    assert_eq!((meta("tmp").uid(), meta("tmp").mode() & 0o7777), (ids.uid, 0o1775));
    assert_eq!(meta("var/mail").mode() & 0o7777, 0o775);
    assert_eq!(meta("home/user/shared").mode() & 0o7777, 0o664);
    assert_eq!((meta("home/user/f").uid(), meta("home/user/f").gid()), (ids.uid + 1000, ids.gid + 1000));
    let withheld: Vec<(String, u32)> =
        checkout.withheld.iter().map(|w| (w.path.display().to_string(), w.mode)).collect();
    assert_eq!(
        withheld,
        [
            ("bin/su".to_owned(), 0o4755),
            ("home/user/shared".to_owned(), 0o666),
            ("tmp".to_owned(), 0o1777),
            ("var/mail".to_owned(), 0o2775)
        ]
    );
    // Nothing anywhere in the checkout caches has one of those bits.
    let mut pending = vec![f.store.dir().join("checkouts-v1")];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let m = entry.metadata().unwrap();
            assert_eq!(m.mode() & rstore_store::WITHHELD_BITS, 0, "{} has mode {:o}", entry.path().display(), m.mode());
            if m.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    for private in ["checkouts-v1/exact-trees", "checkouts-v1/exact-blobs"] {
        let m = fs::metadata(f.store.dir().join(private)).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o700, "{private} is reachable by other users");
    }
    // The identity checkout of the same tree is another directory: neither is reused
    // with the other's owners.
    let identity = f.store.checkout_for_overlay(&root, rstore_store::TaskIds::IDENTITY).unwrap().dir;
    assert_ne!(identity, lower);
    assert_eq!(fs::symlink_metadata(identity.join("bin/su")).unwrap().uid(), 0);
    let report = f.store.verify(&Default::default(), &NoReporter).unwrap();
    assert!(report.is_clean(), "{report:#?}");
    // A checkout that has one is reported by verify.
    fs::set_permissions(lower.join("bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
    let report = f.store.verify(&Default::default(), &NoReporter).unwrap();
    assert!(!report.is_clean(), "a setuid bit in a checkout went unnoticed");
}

/// A blob linked as often as the filesystem allows is copied into the next checkout.
#[test]
fn overlay_checkouts_copy_a_blob_with_too_many_links() {
    let f = Fixture::new();
    let src = f.path("one");
    make_tree(&src, &[("f", Spec::File(b"shared by many trees\n"))]);
    let root = f.ingest(&src).root;
    let first = f.store.checkout_for_overlay(&root, rstore_store::TaskIds::IDENTITY).unwrap().dir;
    // Use up the links of the one exact copy of the blob.
    let blob = first.join("f");
    let spare = f.path("links");
    fs::create_dir_all(&spare).unwrap();
    let mut made = 0u32;
    loop {
        match fs::hard_link(&blob, spare.join(made.to_string())) {
            Ok(()) => made += 1,
            Err(e) if e.raw_os_error() == Some(libc::EMLINK) => break,
            Err(e) => panic!("linking: {e}"),
        }
        assert!(made < 200_000, "this filesystem has no link limit worth testing");
    }
    // Another tree holding the same file: its checkout cannot link it, and copies it.
    let other = f.path("two");
    make_tree(&other, &[("g", Spec::File(b"shared by many trees\n")), ("h", Spec::File(b"else\n"))]);
    let second = f.store.checkout_for_overlay(&f.ingest(&other).root, rstore_store::TaskIds::IDENTITY).unwrap().dir;
    assert_eq!(fs::read(second.join("g")).unwrap(), b"shared by many trees\n");
    assert_eq!(fs::metadata(second.join("g")).unwrap().nlink(), 1, "copied, not linked");
    rstore_store::remove_tree_forcibly(&spare).unwrap();
}

/// Checkouts are written without fsync: those of another boot are thrown away when the
/// store is opened, and made again from the objects.
#[test]
fn checkouts_of_another_boot_are_discarded_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let src = tmp.path().join("src");
    make_tree(&src, &[("a.txt", Spec::File(b"hello\n")), ("bin/tool", Spec::Exec(b"#!/bin/sh\n"))]);
    let ids = rstore_store::TaskIds::IDENTITY;
    let (root, lower) = {
        let store = rstore_store::Store::open(&dir).unwrap();
        let root = store.ingest(&src, &IngestOptions::default(), &NoReporter).unwrap().root;
        (root, store.checkout_for_overlay(&root, ids).unwrap().dir)
    };
    // As if the machine crashed: a file of the checkout lost its contents.
    fs::set_permissions(lower.join("a.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(lower.join("a.txt"), b"").unwrap();
    let boot_id = dir.join("checkouts-v1/boot-id");
    assert!(boot_id.is_file(), "the store does not note the boot of its checkouts");

    // Same boot: kept as it is.
    drop(rstore_store::Store::open(&dir).unwrap());
    assert!(lower.exists());
    // Another boot: thrown away, and made again from the objects.
    fs::write(&boot_id, "another boot\n").unwrap();
    let store = rstore_store::Store::open(&dir).unwrap();
    assert!(!lower.exists(), "a checkout of another boot was kept");
    let again = store.checkout_for_overlay(&root, ids).unwrap().dir;
    assert_eq!(fs::read(again.join("a.txt")).unwrap(), b"hello\n");
    assert!(store.verify(&Default::default(), &NoReporter).unwrap().is_clean());
}
