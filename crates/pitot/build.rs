//! Records the commit and compiler the binary is built from, for
//! `/api/v1/status/buildinfo` and `pitot_build_info` (empty when not built from a Git
//! checkout, as from a source archive).

use std::path::Path;
use std::process::Command;

fn main() {
    let run = |program: &str, args: &[&str]| -> String {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let revision = run("git", &["rev-parse", "--short=12", "HEAD"]);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let compiler = run(&rustc, &["--version"]);
    println!("cargo:rustc-env=PITOT_REVISION={revision}");
    println!("cargo:rustc-env=PITOT_RUSTC_VERSION={compiler}");
    // Rebuild when the checked-out commit moves (HEAD, the branch it names, packed refs).
    let git_dir = run("git", &["rev-parse", "--absolute-git-dir"]);
    if !git_dir.is_empty() {
        let git = Path::new(&git_dir);
        // A path that does not exist would rerun this script on every build.
        let head_ref = run("git", &["symbolic-ref", "-q", "HEAD"]);
        for file in [
            git.join("HEAD"),
            git.join("packed-refs"),
            git.join(head_ref),
        ] {
            if file.is_file() {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
