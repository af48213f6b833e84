//! `pitot_wal_disk_bytes`: how much disk the write-ahead logs hold (segments and
//! checkpoints), which an operator watches next to the block sizes; read from the
//! directories on each scrape (a handful of files).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pitot_http::MetricsCollector;

/// Bytes of the regular files under `dir` (recursively); 0 when it cannot be read.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => bytes_under(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The collector for the metrics WAL (`<data_dir>/wal`) and the logs WAL
/// (`<data_dir>/wal-logs`).
pub fn collector(data_dir: &Path) -> MetricsCollector {
    let dirs: [(&str, PathBuf); 2] = [
        ("metrics", data_dir.join("wal")),
        ("logs", data_dir.join("wal-logs")),
    ];
    Arc::new(move |out: &mut String| {
        use std::fmt::Write;
        out.push_str("# HELP pitot_wal_disk_bytes Bytes the write-ahead log holds on disk (segments and checkpoints).\n# TYPE pitot_wal_disk_bytes gauge\n");
        for (wal, dir) in &dirs {
            let _ = writeln!(
                out,
                "pitot_wal_disk_bytes{{wal=\"{wal}\"}} {}",
                bytes_under(dir)
            );
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_the_files_of_both_logs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("wal/checkpoint.1")).unwrap();
        std::fs::write(dir.path().join("wal/00000001"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("wal/checkpoint.1/00000000"), [0u8; 20]).unwrap();
        let mut out = String::new();
        super::collector(dir.path())(&mut out);
        assert!(
            out.contains("pitot_wal_disk_bytes{wal=\"metrics\"} 120\n"),
            "{out}"
        );
        assert!(
            out.contains("pitot_wal_disk_bytes{wal=\"logs\"} 0\n"),
            "{out}"
        );
    }
}
