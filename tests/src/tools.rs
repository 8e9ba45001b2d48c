//! Where the tools built by `make tools` live.

use std::path::PathBuf;

/// The repository's root directory.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `target/tools/NAME`, or `$SLUICE_TOOLS_DIR/NAME` when that is set.
pub fn tool(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("SLUICE_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("tools"));
    let path = dir.join(name);
    if !path.is_file() {
        anyhow::bail!(
            "{} is missing: run `make tools` (or `make test`, which builds it first)",
            path.display()
        );
    }
    Ok(path)
}

/// `target/images/NAME.tar`, an image archive built by `make test-images` / `make images`, or
/// `$SLUICE_IMAGES_DIR/NAME.tar` when that is set.
pub fn image_archive(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("SLUICE_IMAGES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("images"));
    let path = dir.join(format!("{name}.tar"));
    if !path.is_file() {
        anyhow::bail!(
            "{} is missing: run `make test-images` (or `make test`, which builds it first)",
            path.display()
        );
    }
    Ok(path)
}

/// A binary of this workspace, built by cargo into the same profile as the tests.
pub fn cargo_bin(name: &str) -> anyhow::Result<PathBuf> {
    // Test executables live in target/<profile>/deps, the binaries (the demo among them)
    // in target/<profile>.
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| {
        anyhow::anyhow!("cannot locate the target directory from {}", exe.display())
    })?;
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let path = profile_dir.join(name);
    if !path.is_file() {
        anyhow::bail!(
            "{} is missing: run `cargo build --workspace --bins` first (make test does)",
            path.display()
        );
    }
    Ok(path)
}
