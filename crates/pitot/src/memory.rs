//! Process-wide memory settings applied before anything allocates.

/// Opts the process out of transparent huge pages (Linux `PR_SET_THP_DISABLE`) unless
/// `PITOT_TRANSPARENT_HUGEPAGES=1` is set.
///
/// The allocator asks for huge pages on its large arenas; a 2 MiB page is resident as
/// soon as one byte of it is touched, so a head of many small chunks and label strings
/// spread over arenas costs up to twice its live size in RSS (measured on the shared
/// remote-write workload at 20,000 series: peak RSS 112 MB with huge pages, 79 MB
/// without, same CPU). Databases that keep many small objects (Redis, MongoDB) give the
/// same advice.
pub fn decline_transparent_huge_pages() {
    if std::env::var_os("PITOT_TRANSPARENT_HUGEPAGES").is_some_and(|v| v == "1") {
        return;
    }
    // Applies to mappings made before the call too (the kernel checks it per fault).
    #[cfg(target_os = "linux")]
    if let Err(error) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("warning: cannot opt out of transparent huge pages ({error}); RSS may be higher");
    }
}
