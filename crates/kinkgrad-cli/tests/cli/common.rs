//! What every module of the command line's tests uses: run `kinkgrad` and read its result.

use std::process::Command;

/// Runs `kinkgrad ARGS`: exit code (-1 when killed by a signal), stdout, stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kinkgrad")).args(args).output().expect("run kinkgrad");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs `kinkgrad ARGS`, which must exit 0 and print one JSON object, and returns that object.
pub fn json(args: &[&str]) -> serde_json::Value {
    let (c, out, e) = run(args);
    assert_eq!(c, 0, "{args:?}: {e}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not one JSON object ({e}): {out}"))
}
