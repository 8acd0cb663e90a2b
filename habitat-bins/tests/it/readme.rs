//! The README's walk-through works as written.

use super::support::Sandbox;

#[test]
fn readme_walkthrough_runs_verbatim() {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("<!-- walkthrough:start -->")
        .expect("walkthrough start marker");
    let end = readme
        .find("<!-- walkthrough:end -->")
        .expect("walkthrough end marker");
    let block = &readme[start..end];
    let script = block
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a sh code block");

    let sandbox = Sandbox::new();
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_hab"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(sandbox.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", sandbox.path().join("home"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "walk-through failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("hello from"),
        "the installed program ran: {stdout}"
    );
    assert!(stdout.contains("demo/hello/1.0.0/"), "listed: {stdout}");
    assert!(
        stdout.contains("TDeps          : demo/hello/1.0.0/"),
        "greeter's TDEPS: {stdout}"
    );
    let exported = std::fs::read_to_string(sandbox.path().join("demo.pub")).unwrap();
    assert!(exported.starts_with("SIG-PUB-1\ndemo-"), "{exported}");
    // Nothing was written outside the sandbox's root, keys and working files.
    assert!(
        sandbox
            .path()
            .join("root/hab/pkgs/demo/hello/1.0.0")
            .is_dir()
    );
}
