//! berth's own container image: one image for every role, the role chosen by command.
//!
//! The image is built `FROM scratch` out of the release binary and exactly the shared
//! libraries it links (found with `ldd`), so it needs no base image: nothing is pulled,
//! which is what air-gapped sites and registry-less machines require. It runs as an
//! unprivileged user and carries the system's CA bundle for public model APIs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The image repository of berth's roles, as the built-in catalog names it.
pub const REPOSITORY: &str = "berth/berth";

/// The user id the image runs as.
pub const USER_ID: u32 = 10001;

/// Where the binary lives in the image; the image's `PATH` is this directory.
const BIN_DIR: &str = "usr/local/bin";

/// Directories created in the image, writable by [`USER_ID`]: the state volume's mount
/// point (a new named volume copies its owner) and a temporary directory.
pub const WRITABLE_DIRS: [&str; 2] = ["state", "tmp"];

/// Why an image could not be prepared or built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The binary is missing or unreadable.
    #[error("cannot read the berth binary {}", path.display())]
    Binary {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `ldd` could not list the binary's libraries.
    #[error("cannot list the shared libraries of {} with ldd: {message}", path.display())]
    Libraries {
        /// The binary.
        path: PathBuf,
        /// What ldd said.
        message: String,
    },
    /// The build context could not be written.
    #[error("cannot write the build context at {}", path.display())]
    Context {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Docker CLI could not be run.
    #[error("cannot run `docker` (is the Docker engine installed and running?)")]
    Docker(#[source] std::io::Error),
    /// `docker build` failed.
    #[error("docker build of {tag} failed:\n{output}")]
    Build {
        /// The tag being built.
        tag: String,
        /// What docker printed.
        output: String,
    },
}

/// The tag of berth's image for `version`, under `registry` when given
/// (`registry.example.com/mirror` → `registry.example.com/mirror/berth/berth:0.1.0`).
pub fn tag(registry: Option<&str>, version: &str) -> String {
    match registry.map(|r| r.trim_end_matches('/')) {
        Some(r) if !r.is_empty() => format!("{r}/{REPOSITORY}:{version}"),
        _ => format!("{REPOSITORY}:{version}"),
    }
}

/// A prepared build context: a directory with a `Dockerfile` and the image's root file
/// system under `rootfs/`.
#[derive(Debug, Clone)]
pub struct Context {
    /// The directory.
    pub dir: PathBuf,
    /// Files copied into the image, as absolute paths inside it.
    pub files: Vec<String>,
}

/// The shared libraries `ldd` lists for `binary`, the dynamic loader included, as absolute
/// paths. A static binary has none.
pub fn libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| ImageError::Libraries {
            path: binary.to_path_buf(),
            message: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if text.contains("not a dynamic executable") || err.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(ImageError::Libraries {
            path: binary.to_path_buf(),
            message: format!("{}{}", text.trim(), err.trim()),
        });
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("=> not found") {
            return Err(ImageError::Libraries {
                path: binary.to_path_buf(),
                message: format!("a library is missing: {line}"),
            });
        }
        // `libc.so.6 => /lib/…/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`;
        // the vDSO has no file.
        let path = match line.split_once("=>") {
            Some((_, right)) => right.trim(),
            None => line,
        };
        let path = path.split(" (").next().unwrap_or_default().trim();
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    libs.sort();
    libs.dedup();
    Ok(libs)
}

/// Writes a build context for `binary` into `dir` (created; must be empty or absent).
/// `strip`: remove debug information from the copied binary when the `strip` tool is
/// present, which turns a debug build's hundreds of megabytes into tens.
pub fn prepare(
    binary: &Path,
    dir: &Path,
    version: &str,
    strip: bool,
) -> Result<Context, ImageError> {
    let meta = std::fs::metadata(binary).map_err(|source| ImageError::Binary {
        path: binary.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(ImageError::Binary {
            path: binary.to_path_buf(),
            source: std::io::Error::other("not a file"),
        });
    }
    let libs = libraries(binary)?;
    let wrote = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::Context { path, source }
    };
    let rootfs = dir.join("rootfs");
    let mut files = Vec::new();
    let bin_dir = rootfs.join(BIN_DIR);
    std::fs::create_dir_all(&bin_dir).map_err(wrote(&bin_dir))?;
    let target = bin_dir.join("berth");
    std::fs::copy(binary, &target).map_err(wrote(&target))?;
    files.push(format!("/{BIN_DIR}/berth"));
    if strip {
        // Best effort: an unstripped binary works the same, only larger.
        let _ = Command::new("strip")
            .arg("--strip-debug")
            .arg(&target)
            .status();
    }
    let mut extra: Vec<PathBuf> = libs;
    for bundle in ["/etc/ssl/certs/ca-certificates.crt"] {
        if Path::new(bundle).is_file() {
            extra.push(PathBuf::from(bundle));
        }
    }
    for file in extra {
        let inside = rootfs.join(file.strip_prefix("/").unwrap_or(&file));
        if let Some(parent) = inside.parent() {
            std::fs::create_dir_all(parent).map_err(wrote(parent))?;
        }
        // Copy the file a symlink names, under the symlink's own path.
        std::fs::copy(&file, &inside).map_err(wrote(&inside))?;
        files.push(file.display().to_string());
    }
    let etc = rootfs.join("etc");
    std::fs::create_dir_all(&etc).map_err(wrote(&etc))?;
    let passwd = etc.join("passwd");
    std::fs::write(
        &passwd,
        format!("root:x:0:0:root:/root:/sbin/nologin\nberth:x:{USER_ID}:{USER_ID}:berth:/state:/sbin/nologin\n"),
    )
    .map_err(wrote(&passwd))?;
    let group = etc.join("group");
    std::fs::write(&group, format!("root:x:0:\nberth:x:{USER_ID}:\n")).map_err(wrote(&group))?;
    // Apart from the root file system: copied with their owner set, so that the
    // directories themselves (not only their contents) belong to the image's user.
    for d in WRITABLE_DIRS {
        let path = dir.join("writable").join(d);
        std::fs::create_dir_all(&path).map_err(wrote(&path))?;
        // A placeholder keeps the directory in the layer.
        let keep = path.join(".keep");
        std::fs::write(&keep, b"").map_err(wrote(&keep))?;
    }
    let dockerfile = dir.join("Dockerfile");
    std::fs::write(&dockerfile, dockerfile_text(version)).map_err(wrote(&dockerfile))?;
    files.sort();
    Ok(Context {
        dir: dir.to_path_buf(),
        files,
    })
}

/// The Dockerfile of the image: nothing but what [`prepare`] put in `rootfs/`.
fn dockerfile_text(version: &str) -> String {
    let writable = format!("COPY --chown={USER_ID}:{USER_ID} writable/ /\n");
    format!(
        "# berth {version}: one image for every role; the command picks the role.\n\
         FROM scratch\n\
         COPY rootfs/ /\n\
         {writable}\
         ENV PATH=/{BIN_DIR} HOME=/state TMPDIR=/tmp BERTH_STATE_DIR=/state\n\
         LABEL org.opencontainers.image.title=berth org.opencontainers.image.version={version}\n\
         USER {USER_ID}:{USER_ID}\n\
         WORKDIR /state\n\
         CMD [\"berth\", \"--help\"]\n"
    )
}

/// Builds the image from a prepared context and tags it; returns the image id.
pub fn build(context: &Context, tag: &str) -> Result<String, ImageError> {
    let out = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(&context.dir)
        .output()
        .map_err(ImageError::Docker)?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        return Err(ImageError::Build {
            tag: tag.to_owned(),
            output: format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    Ok(stdout.lines().last().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_version_under_an_optional_registry() {
        assert_eq!(tag(None, "0.1.0"), "berth/berth:0.1.0");
        assert_eq!(
            tag(Some("registry.local:5000/mirror/"), "0.2.0"),
            "registry.local:5000/mirror/berth/berth:0.2.0"
        );
        assert_eq!(tag(Some(""), "1.0.0"), "berth/berth:1.0.0");
    }

    #[test]
    fn a_context_holds_the_binary_its_libraries_and_a_non_root_user() {
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ctx = prepare(&exe, &dir.path().join("ctx"), "9.9.9", false).unwrap();
        let root = ctx.dir.join("rootfs");
        assert!(root.join("usr/local/bin/berth").is_file());
        for lib in libraries(&exe).unwrap() {
            let inside = root.join(lib.strip_prefix("/").unwrap());
            assert!(inside.is_file(), "{} missing", inside.display());
        }
        let docker = std::fs::read_to_string(ctx.dir.join("Dockerfile")).unwrap();
        assert!(docker.starts_with("# berth 9.9.9"), "{docker}");
        assert!(docker.contains("FROM scratch"));
        assert!(docker.contains(&format!("USER {USER_ID}")));
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(passwd.contains(&format!("berth:x:{USER_ID}")));
    }

    #[test]
    fn a_missing_binary_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = prepare(Path::new("/nonexistent/berth"), dir.path(), "0", false).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/berth"), "{err}");
    }
}
