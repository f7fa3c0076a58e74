use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

fn fields(l: &str) -> (String, String, String) {
    let p = parse_line(l.as_bytes()).unwrap();
    (p.stream.to_string(), if p.partial { "P" } else { "F" }.to_string(), String::from_utf8(p.content.to_vec()).unwrap())
}

fn show(path: &Path, o: &ReadOptions) -> String {
    let mut out = Vec::new();
    read(path, o, &mut out, &|| false).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn timestamps_are_go_rfc3339_nano() {
    assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_nano(UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000)), "2023-11-14T22:13:20.12Z");
    assert_eq!(rfc3339_nano(UNIX_EPOCH + Duration::new(951_782_400, 1)), "2000-02-29T00:00:00.000000001Z");
}

#[test]
fn lines_partial_long_crlf_and_the_last_line_without_newline() {
    let d = tempfile::tempdir().unwrap();
    let path = log_path(d.path(), "c", 0);
    let log = LogFile::open(&path, Rotation::default()).unwrap();
    let long = "x".repeat(MAX_LINE * 2 + 5);
    let exact = "y".repeat(MAX_LINE);
    let input = format!("one\r\n\ntwo words\n{long}\n{exact}\nlast");
    copy(input.as_bytes(), Stream::Stdout, &log).unwrap();
    copy(&b"err\n"[..], Stream::Stderr, &log).unwrap();
    let got: Vec<_> = lines(&path).iter().map(|l| fields(l)).collect();
    let f = |s: &str, t: &str, c: &str| (s.to_string(), t.to_string(), c.to_string());
    assert_eq!(
        got,
        vec![
            f("stdout", "F", "one"),
            f("stdout", "F", ""),
            f("stdout", "F", "two words"),
            f("stdout", "P", &long[..MAX_LINE]),
            f("stdout", "P", &long[..MAX_LINE]),
            f("stdout", "F", "xxxxx"),
            f("stdout", "F", &exact),
            f("stdout", "P", "last"),
            f("stderr", "F", "err"),
        ]
    );
    // Each line starts with a parsable timestamp of the writer's format.
    for l in lines(&path) {
        let ts = l.split(' ').next().unwrap();
        assert!(ts.len() >= 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    }
    // Read back: parts joined, the last part kept without a newline.
    let shown = show(&path, &ReadOptions::default());
    assert_eq!(shown, format!("one\n\ntwo words\n{long}\n{exact}\nlasterr\n").replace("lasterr\n", "err\nlast"));
    // --tail counts joined lines; --timestamps prefixes the first part's stamp.
    assert_eq!(show(&path, &ReadOptions { tail: Some(2), ..Default::default() }), "err\nlast");
    let ts = show(&path, &ReadOptions { timestamps: true, tail: Some(1), ..Default::default() });
    assert!(ts.ends_with("Z last") && ts.starts_with("20"), "{ts}");
    assert_eq!(show(&path, &ReadOptions { tail: Some(0), ..Default::default() }), "");
}

#[test]
fn kubelet_lines_with_extra_tag_flags_and_bad_lines() {
    let p = parse_line(b"2016-10-06T00:17:09.669794202Z stdout P:x log content 1").unwrap();
    assert!(p.partial && p.content == b"log content 1" && p.timestamp == "2016-10-06T00:17:09.669794202Z");
    assert!(parse_line(b"2016-10-06T00:17:09Z stdin F x").is_err());
    assert!(parse_line(b"2016-10-06T00:17:09Z stdout").is_err());
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("0.log");
    std::fs::write(&path, "2016-10-06T00:17:09Z stdout F ok\nnot a cri line\n").unwrap();
    let e = read(&path, &ReadOptions::default(), &mut Vec::new(), &|| false).unwrap_err().to_string();
    assert!(e.contains("0.log") && e.contains("line 2"), "{e}");
}

#[test]
fn rotation_keeps_max_files_and_kubelet_names() {
    let d = tempfile::tempdir().unwrap();
    let path = log_path(d.path(), "c", 3);
    let log = LogFile::open(&path, Rotation { max_size: 200, max_files: 3 }).unwrap();
    for i in 0..40 {
        log.write_line(Stream::Stdout, false, format!("line {i:02} ----------").as_bytes()).unwrap();
    }
    let rotated = writer::rotated_files(&path);
    assert_eq!(rotated.len(), 2, "{rotated:?}");
    for r in &rotated {
        let name = r.file_name().unwrap().to_str().unwrap();
        let stamp = name.strip_prefix("3.log.").unwrap();
        assert!(stamp.len() >= 15 && stamp.as_bytes()[8] == b'-', "{name}");
        assert!(std::fs::metadata(r).unwrap().len() <= 200);
    }
    assert!(std::fs::metadata(&path).unwrap().len() <= 200);
    // The newest lines are in the current file, the ones before it in the newest rotated.
    let cur = show(&path, &ReadOptions::default());
    assert!(cur.ends_with("line 39 ----------\n"), "{cur}");
    let prev = show(&rotated[1], &ReadOptions::default());
    let first_cur: String = cur.lines().next().unwrap().into();
    let n: usize = first_cur[5..7].parse().unwrap();
    assert!(prev.ends_with(&format!("line {:02} ----------\n", n - 1)), "{prev}");
    assert_eq!(latest_restart(d.path(), "c"), Some(3));
}

#[test]
fn follow_reads_new_lines_and_across_rotation() {
    let d = tempfile::tempdir().unwrap();
    let path = log_path(d.path(), "c", 0);
    let log = LogFile::open(&path, Rotation { max_size: 120, max_files: 2 }).unwrap();
    log.write_line(Stream::Stdout, false, b"before").unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let (r, p) = (running.clone(), path.clone());
    let t = std::thread::spawn(move || {
        let mut out = Vec::new();
        let o = ReadOptions { follow: true, poll: Some(Duration::from_millis(10)), ..Default::default() };
        read(&p, &o, &mut out, &|| r.load(Ordering::SeqCst)).unwrap();
        String::from_utf8(out).unwrap()
    });
    // Slowly, so that the follower sees each file before the next rotation.
    for i in 0..6 {
        std::thread::sleep(Duration::from_millis(60));
        log.write_line(Stream::Stderr, i % 2 == 0, format!("part{i}-of-a-longer-line").as_bytes()).unwrap();
    }
    assert!(!writer::rotated_files(&path).is_empty());
    std::thread::sleep(Duration::from_millis(60));
    running.store(false, Ordering::SeqCst);
    let got = t.join().unwrap();
    assert_eq!(got, "before\npart0-of-a-longer-linepart1-of-a-longer-line\npart2-of-a-longer-linepart3-of-a-longer-line\npart4-of-a-longer-linepart5-of-a-longer-line\n");
}

#[test]
fn a_pipe_copier_thread_ends_at_eof_with_the_last_partial_line() {
    let d = tempfile::tempdir().unwrap();
    let path = log_path(d.path(), "c", 0);
    let log = LogFile::open(&path, Rotation::default()).unwrap();
    let (r, w) = pipe().unwrap();
    let t = spawn_copier(r, Stream::Stdout, log).unwrap();
    let mut w = std::fs::File::from(w);
    // More than a default 64 KiB pipe buffer in one go: the copier drains as it comes.
    let big = "z".repeat(1000) + "\n";
    for _ in 0..200 {
        w.write_all(big.as_bytes()).unwrap();
    }
    w.write_all(b"tail").unwrap();
    drop(w);
    t.join().unwrap().unwrap();
    let l = lines(&path);
    assert_eq!(l.len(), 201);
    assert_eq!(fields(&l[200]), ("stdout".into(), "P".into(), "tail".into()));
}

#[test]
fn select_current_and_previous_runs() {
    let d = tempfile::tempdir().unwrap();
    for n in [0, 1, 2, 10] {
        LogFile::open(&log_path(d.path(), "c", n), Rotation::default()).unwrap();
    }
    assert_eq!(select(d.path(), "c", false).unwrap(), log_path(d.path(), "c", 10));
    assert_eq!(select(d.path(), "c", true).unwrap(), log_path(d.path(), "c", 2));
    LogFile::open(&log_path(d.path(), "one", 0), Rotation::default()).unwrap();
    let e = select(d.path(), "one", true).unwrap_err().to_string();
    assert!(e.contains("\"one\" (a previous terminated run)"), "{e}");
    assert!(select(d.path(), "nope", false).unwrap_err().to_string().contains("no log of container \"nope\""));
}

#[test]
fn attach_writes_both_streams_of_a_child() {
    let d = tempfile::tempdir().unwrap();
    let path = log_path(d.path(), "c", 0);
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", "echo out; echo err >&2; printf 'no newline'"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let hs = attach(child.stdout.take(), child.stderr.take(), &path, Rotation::default()).unwrap();
    child.wait().unwrap();
    for h in hs {
        h.join().unwrap().unwrap();
    }
    let mut got: Vec<_> = lines(&path).iter().map(|l| fields(l)).collect();
    got.sort();
    let f = |s: &str, t: &str, c: &str| (s.to_string(), t.to_string(), c.to_string());
    assert_eq!(got, vec![f("stderr", "F", "err"), f("stdout", "F", "out"), f("stdout", "P", "no newline")]);
}

#[test]
fn a_log_that_cannot_be_written_still_drains_the_stream() {
    let d = tempfile::tempdir().unwrap();
    let path = log_path(d.path(), "c", 0);
    let log = LogFile::open(&path, Rotation { max_size: 100, max_files: 2 }).unwrap();
    // Rotation fails from now on (the directory is gone): lines are lost, reading goes on.
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    let (r, w) = pipe().unwrap();
    let t = spawn_copier(r, Stream::Stdout, log).unwrap();
    // Twice the pipe's raised buffer: the writer finishes only if the copier keeps reading.
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::File::from(w);
        for _ in 0..2048 {
            w.write_all(&[b'y'; 1023]).unwrap();
            w.write_all(b"\n").unwrap();
        }
    });
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while !writer.is_finished() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(writer.is_finished(), "the payload's writes block: the copier stopped reading");
    writer.join().unwrap();
    let e = t.join().unwrap().unwrap_err().to_string();
    assert!(e.contains("0.log"), "{e}");
}
