//! The README's walk-through works as written.

use super::support::Sandbox;

#[test]
fn readme_walkthrough_runs_verbatim() {
    let script = readme_block("walkthrough");
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

/// The sh block between `<!-- NAME:start -->` and `<!-- NAME:end -->` in the README.
fn readme_block(name: &str) -> &'static str {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find(&format!("<!-- {name}:start -->"))
        .expect("start marker");
    let end = readme
        .find(&format!("<!-- {name}:end -->"))
        .expect("end marker");
    readme[start..end]
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a sh code block")
}

#[test]
fn readme_service_walkthrough_runs_verbatim() {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};

    let script = readme_block("e2e");
    let sandbox = Sandbox::new();
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_hab"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(sandbox.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", sandbox.path().join("home"))
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = rustix::process::Pid::from_child(&child);
    // The script waits for the service with loops of its own: bound the whole run.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Whatever happened, nothing the script started outlives the test.
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = |name: &str| std::fs::read_to_string(sandbox.path().join(name)).unwrap_or_default();
    let context = format!(
        "stdout:\n{stdout}\nstderr:\n{stderr}\nweb.log:\n{}\ndepot.log:\n{}",
        log("web.log"),
        log("depot.log")
    );
    let status = status.unwrap_or_else(|| panic!("the walk-through timed out\n{context}"));
    assert!(status.success(), "the walk-through failed\n{context}");

    // Uploading before the key is known fails with the hint, and no key went up then.
    assert!(
        stderr.contains("hint: upload the public key first: hab origin key upload demo"),
        "{context}"
    );
    assert!(stdout.contains("refused, as expected"), "{context}");
    // The service ran on 1.0.0 with cfg from default.toml and user.toml, then moved to 1.0.1.
    assert!(
        stdout.contains("bonjour from demo/web/1.0.0/20260101000000 on port 8080"),
        "{context}"
    );
    assert!(
        stdout.contains("bonjour from demo/web/1.0.1/20260102000000 on port 8080"),
        "{context}"
    );
    // The second machine got all three packages and only the public key.
    let machine = sandbox.path().join("machine");
    for name in ["liba", "libb", "web"] {
        assert!(
            machine.join("hab/pkgs/demo").join(name).is_dir(),
            "demo/{name} installed\n{context}"
        );
    }
    let keys: Vec<String> = std::fs::read_dir(machine.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        keys.len() == 1 && keys[0].starts_with("demo-") && keys[0].ends_with(".pub"),
        "{keys:?}"
    );
}
