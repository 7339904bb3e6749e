use rstore_store::*;
#[test]
#[ignore]
fn probe() {
    let dir = std::path::PathBuf::from(std::env::var("PROBE_DIR").unwrap());
    let src = std::path::PathBuf::from(std::env::var("PROBE_SRC").unwrap());
    let store = Store::open(dir.join("s")).unwrap();
    let t = std::time::Instant::now();
    let o = store.ingest(&src, &IngestOptions::default(), &NoReporter).unwrap();
    eprintln!("ingest: {:?} {} files", t.elapsed(), o.files);
    let t = std::time::Instant::now();
    store.ingest(&src, &IngestOptions::default(), &NoReporter).unwrap();
    eprintln!("re-ingest: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    store.materialise(&o.root, &dir.join("m1"), Access::ReadOnly, &NoReporter).unwrap();
    eprintln!("materialise cold: {:?}", t.elapsed());
    for i in 2..6 {
        let t = std::time::Instant::now();
        store.materialise(&o.root, &dir.join(format!("m{i}")), Access::ReadOnly, &NoReporter).unwrap();
        eprintln!("materialise warm: {:?}", t.elapsed());
    }
    for i in 0..3 {
        let t = std::time::Instant::now();
        let st = std::process::Command::new("cp").arg("-a").arg(&src).arg(dir.join(format!("cp{i}"))).status().unwrap();
        eprintln!("cp -a: {:?} {st}", t.elapsed());
    }
}
