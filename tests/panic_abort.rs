//! The layer in a `panic = "abort"` build (tests/fixtures/panic_abort),
//! where no panic can be caught: on a tokio runtime without its time
//! driver, a retry is given up and the error returned; the process does
//! not abort. Built with cargo, offline (its few dependencies are the
//! crate's own, already fetched; its lock file is resolved from them and
//! not committed), in a target dir of its own under this one's `tmp`: a
//! nested cargo cannot take the outer build's lock, and a different panic
//! strategy rebuilds every dependency anyway. About 40 s on a cold target,
//! a few seconds after.

use std::path::Path;
use std::process::Command;

#[test]
fn without_a_time_driver_a_panic_abort_build_gives_up_the_retry_and_lives() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/panic_abort");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("panic_abort");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["run", "--quiet", "--offline", "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .output()
        .expect("cargo could not be run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the fixture failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("panic strategy: abort"), "{stdout}");
    assert!(
        stdout.contains("no time driver: ConnectionRefused after 1 attempt(s)"),
        "{stdout}"
    );
    // The default cannot check for the driver in such a build: no pause.
    assert!(
        stdout.contains("default timer: ConnectionRefused after 1 attempt(s)"),
        "{stdout}"
    );
    // Told to trust tokio, the policy pauses: 2 retries, 3 attempts.
    assert!(
        stdout.contains("tokio_timer: ConnectionRefused after 3 attempt(s)"),
        "{stdout}"
    );
}
