//! Stamps the build with its git commit (`handoff_build_info{commit}` in /metrics), or
//! "unknown" when built outside a git checkout (a crate tarball).

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=HANDOFF_COMMIT={commit}");
    // HEAD's reflog changes with every commit and checkout (worktrees have their own git dir).
    let git_dir = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok());
    if let Some(dir) = git_dir {
        for file in ["HEAD", "logs/HEAD"] {
            let path = std::path::Path::new(dir.trim()).join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
