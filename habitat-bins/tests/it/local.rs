//! The local commands: keys, sign, verify, pack, install, path, list.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::support::Sandbox;

fn flip_last_byte(src: &Path, dst: &Path) {
    let mut bytes = fs::read(src).unwrap();
    *bytes.last_mut().unwrap() ^= 0x01;
    fs::write(dst, bytes).unwrap();
}

#[test]
fn generated_keys_have_habitats_modes_and_export_import_between_machines() {
    let a = Sandbox::new();
    a.ok(&["origin", "key", "generate", "demo"]);
    let files: Vec<_> = fs::read_dir(a.keys())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for file in &files {
        let mode = fs::metadata(file).unwrap().permissions().mode() & 0o777;
        let name = file.file_name().unwrap().to_str().unwrap();
        let expected = if name.ends_with(".pub") { 0o444 } else { 0o400 };
        assert_eq!(mode, expected, "{name}");
        assert!(name.starts_with("demo-"), "{name}");
    }

    let public = a.ok(&["origin", "key", "export", "demo"]);
    let secret = a.ok(&["origin", "key", "export", "demo", "-t", "secret"]);
    assert!(public.starts_with("SIG-PUB-1\ndemo-"));
    assert!(secret.starts_with("SIG-SEC-1\ndemo-"));

    let b = Sandbox::new();
    for text in [&public, &secret] {
        let mut child = b
            .hab()
            .args(["origin", "key", "import"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
    // b can now sign as demo, and a verifies b's artifact.
    let hart = b.pack("demo/moved/1.0.0", &[]);
    a.ok(&["pkg", "verify", hart.to_str().unwrap()]);
}

#[test]
fn import_refuses_what_is_not_a_key() {
    let s = Sandbox::new();
    let mut child = s
        .hab()
        .args(["origin", "key", "import"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"BOX-PUB-1\ndemo-20160101000000\n\nAAAA")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported key kind `BOX-PUB-1`"));
}

#[test]
fn verify_says_which_check_failed() {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    let hart = s.pack("demo/app/1.0.0", &[]);
    let hart_str = hart.to_str().unwrap();
    let err = s.ok(&["pkg", "verify", hart_str]);
    assert_eq!(err, "", "verify prints nothing on stdout");

    let tampered = s.path().join("tampered.hart");
    flip_last_byte(&hart, &tampered);
    let err = s.fails(&["pkg", "verify", tampered.to_str().unwrap()]);
    assert!(
        err.contains("payload hash") && err.contains("does not match signed hash"),
        "{err}"
    );
    assert!(err.contains("hint: the artifact was altered"), "{err}");

    let bytes = fs::read(&hart).unwrap();
    let truncated = s.path().join("truncated.hart");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = s.fails(&["pkg", "verify", truncated.to_str().unwrap()]);
    assert!(err.contains("does not match signed hash"), "{err}");
    fs::write(&truncated, &bytes[..10]).unwrap();
    let err = s.fails(&["pkg", "verify", truncated.to_str().unwrap()]);
    assert!(err.contains("malformed artifact header at line 2"), "{err}");

    // Missing key: a key cache without the signer.
    let err = s.fails(&[
        "pkg",
        "verify",
        hart_str,
        "--cache-key-path",
        s.path().join("empty").to_str().unwrap(),
    ]);
    assert!(err.contains("no key `demo-"), "{err}");
    assert!(err.contains("hint: import the public key `demo-"), "{err}");

    // Wrong key: another pair under the signer's exact name.
    let other = Sandbox::new();
    other.ok(&["origin", "key", "generate", "demo"]);
    let other_pub = fs::read_dir(other.keys())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pub"))
        .unwrap();
    let signer = fs::read_dir(s.keys())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".pub"))
        .unwrap();
    let signer = signer.trim_end_matches(".pub");
    let forged = fs::read_to_string(&other_pub).unwrap();
    let other_name = other_pub.file_stem().unwrap().to_str().unwrap();
    let wrong_dir = s.path().join("wrong");
    fs::create_dir(&wrong_dir).unwrap();
    fs::write(
        wrong_dir.join(format!("{signer}.pub")),
        forged.replace(other_name, signer),
    )
    .unwrap();
    let err = s.fails(&[
        "pkg",
        "verify",
        hart_str,
        "--cache-key-path",
        wrong_dir.to_str().unwrap(),
    ]);
    assert!(err.contains("signature does not verify"), "{err}");
}

#[test]
fn header_info_and_hash() {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    let hart = s.pack("demo/app/1.0.0/20200102030405", &[]);
    let hart_str = hart.to_str().unwrap();
    assert!(
        hart_str.ends_with("demo-app-1.0.0-20200102030405-x86_64-linux.hart"),
        "{hart_str}"
    );
    let header = s.ok(&["pkg", "header", hart_str]);
    assert!(header.contains("Format Version : HART-1"), "{header}");
    assert!(header.contains("Hash Type      : BLAKE2b"), "{header}");
    let json: serde_json::Value =
        serde_json::from_str(&s.ok(&["pkg", "info", "-j", hart_str])).unwrap();
    assert_eq!(json["ident"]["name"], "app");
    assert_eq!(json["target"], "x86_64-linux");
    let hash = s.ok(&["pkg", "hash", hart_str]);
    assert_eq!(
        hash.trim(),
        habitat_core::Blake2bHash::of_file(&hart)
            .unwrap()
            .to_string()
    );
}

#[test]
fn sign_a_tarball_and_refuse_foreign_signers_at_install() {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    s.ok(&["origin", "key", "generate", "other"]);
    // A hand-made package of origin demo, signed with other's key.
    let tree = s.path().join("tree");
    let pkg = tree.join("hab/pkgs/demo/stray/1.0.0/20200101000000");
    fs::create_dir_all(&pkg).unwrap();
    fs::write(pkg.join("IDENT"), "demo/stray/1.0.0/20200101000000\n").unwrap();
    fs::write(pkg.join("TARGET"), "x86_64-linux\n").unwrap();
    let tarball = s.path().join("stray.tar.xz");
    let status = std::process::Command::new("tar")
        .args([
            "-cJf",
            tarball.to_str().unwrap(),
            "-C",
            tree.to_str().unwrap(),
            "hab",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let hart = s.path().join("stray.hart");
    s.ok(&[
        "pkg",
        "sign",
        "--origin",
        "other",
        tarball.to_str().unwrap(),
        hart.to_str().unwrap(),
    ]);
    s.ok(&["pkg", "verify", hart.to_str().unwrap()]);
    let err = s.fails(&["pkg", "install", hart.to_str().unwrap()]);
    assert!(err.contains("is signed by `other-"), "{err}");
    assert!(err.contains("not a key of origin `demo`"), "{err}");
    assert!(
        !s.fs_root().join("hab/pkgs/demo").exists(),
        "nothing installed"
    );
}

#[test]
fn install_needs_dependencies_installed_or_given_together() {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    let lib = s.pack("demo/lib/1.0.0", &[]);
    s.ok(&["pkg", "install", lib.to_str().unwrap()]);
    let app = s.pack("demo/app/2.0.0", &["demo/lib"]);
    // A fresh root has no lib: installing app alone is refused and installs nothing.
    let fresh = Sandbox::new();
    for key in fs::read_dir(s.keys()).unwrap() {
        let key = key.unwrap().path();
        fs::create_dir_all(fresh.keys()).unwrap();
        fs::copy(&key, fresh.keys().join(key.file_name().unwrap())).unwrap();
    }
    let err = fresh.fails(&["pkg", "install", app.to_str().unwrap()]);
    assert!(
        err.contains("needs dependencies that are not installed: demo/lib/1.0.0/"),
        "{err}"
    );
    assert!(
        err.contains("hint: install the dependencies first"),
        "{err}"
    );
    assert!(
        !fresh.fs_root().join("hab/pkgs").exists(),
        "nothing installed"
    );
    // Given together, in any order, both install (dependency first).
    let out = fresh
        .hab()
        .args([
            "pkg",
            "install",
            app.to_str().unwrap(),
            lib.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lib_at = stderr.find("Installed demo/lib").unwrap();
    let app_at = stderr.find("Installed demo/app").unwrap();
    assert!(lib_at < app_at, "{stderr}");
    let listed = fresh.ok(&["pkg", "list", "demo"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let path = fresh.ok(&["pkg", "path", "demo/app"]);
    assert!(Path::new(path.trim()).join("bin/app").is_file());
    // Installing again is not an error.
    let again = fresh
        .hab()
        .args(["pkg", "install", app.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is already installed"));
}

#[test]
fn install_of_a_tampered_artifact_installs_nothing() {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    let hart = s.pack("demo/app/1.0.0", &[]);
    let tampered = s.path().join("demo-app-tampered.hart");
    flip_last_byte(&hart, &tampered);
    let err = s.fails(&["pkg", "install", tampered.to_str().unwrap()]);
    assert!(err.contains("does not match signed hash"), "{err}");
    assert!(
        !s.fs_root().join("hab/pkgs").exists(),
        "no trace under FS_ROOT"
    );
}

#[test]
fn path_of_a_package_not_installed_is_an_error() {
    let s = Sandbox::new();
    let err = s.fails(&["pkg", "path", "demo/nothing"]);
    assert!(err.contains("`demo/nothing` is not installed"), "{err}");
    // Not installed and not a file: an identifier, to fetch from a depot (none runs here).
    let err = s.fails(&["pkg", "install", "demo/nothing", "-u", "http://127.0.0.1:1"]);
    assert!(err.contains("is a depot running at"), "{err}");
}

#[test]
fn completions_are_generated() {
    let s = Sandbox::new();
    let out = s.ok(&["completions", "bash"]);
    assert!(out.contains("hab"), "{out}");
}

#[test]
fn a_closed_stdout_pipe_is_not_a_crash() {
    // Regression: `hab pkg list | head -1` panicked with a backtrace and exit 101.
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    for name in ["a", "b", "c"] {
        let hart = s.pack(&format!("demo/{name}/1.0.0"), &[]);
        s.ok(&["pkg", "install", hart.to_str().unwrap()]);
    }
    let mut child = s
        .hab()
        .args(["pkg", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 1),
        "{:?}",
        out.status
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pack_refuses_to_write_inside_its_own_source() {
    // Regression: `hab pkg pack .` packed its own temporary .hart into the package.
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    let src = s.package_source("self");
    let out = s
        .hab()
        .current_dir(&src)
        .args(["pkg", "pack", ".", "--ident", "demo/self/1.0.0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot pack `.`: the output directory `.` is inside it"),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(&src).unwrap().count(),
        1,
        "nothing written into the source"
    );
}

#[test]
fn install_names_the_artifact_that_failed() {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    let good = s.pack("demo/good/1.0.0", &[]);
    let bad = s.pack("demo/bad/1.0.0", &[]);
    let tampered = s.path().join("bad-tampered.hart");
    flip_last_byte(&bad, &tampered);
    let err = s.fails(&[
        "pkg",
        "install",
        good.to_str().unwrap(),
        tampered.to_str().unwrap(),
    ]);
    assert!(
        err.contains(&format!("`{}`: payload hash", tampered.display())),
        "{err}"
    );
    assert!(err.contains("hint: the artifact was altered"), "{err}");
    assert!(
        !s.fs_root().join("hab/pkgs/demo/good").exists(),
        "all or nothing"
    );
}

#[test]
fn generating_keys_twice_in_a_second_gives_two_pairs() {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    s.ok(&["origin", "key", "generate", "demo"]);
    assert_eq!(fs::read_dir(s.keys()).unwrap().count(), 4);
}

#[test]
fn account_names_are_checked_before_anything_is_done() {
    // `hab` and `hab-depot` parse account names by the same rule, before any depot is asked.
    let s = Sandbox::new();
    let expected = "invalid account name `a b`: use 1 to 64 letters, digits, `_` or `-`";
    for args in [
        &["origin", "invitations", "send", "demo", "a b"][..],
        &["origin", "rbac", "set", "demo", "a b", "member"],
        &["origin", "rbac", "show", "demo", "a b"],
    ] {
        let err = s.fails(args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hab-depot"))
        .args(["user", "create", "a b", "--data-dir"])
        .arg(s.path().join("depot"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("error: {expected}")), "{err}");
    assert!(!s.path().join("depot").exists(), "nothing is created");
}

#[test]
fn packed_artifacts_carry_the_metadata_files_habitats_tools_require() {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    let hart = s.pack("demo/app/1.0.0/20200102030405", &[]);
    let json: serde_json::Value =
        serde_json::from_str(&s.ok(&["pkg", "info", "-j", hart.to_str().unwrap()])).unwrap();
    let manifest = json["manifest"].as_str().unwrap();
    assert!(manifest.starts_with("demo app\n"), "{manifest}");
    assert!(manifest.contains("Version: 1.0.0"), "{manifest}");
    assert!(manifest.contains("Release: 20200102030405"), "{manifest}");

    // Habitat's tools require IDENT, TARGET and MANIFEST at the top of the package.
    s.ok(&["pkg", "install", hart.to_str().unwrap()]);
    let dir = s.fs_root().join("hab/pkgs/demo/app/1.0.0/20200102030405");
    for required in ["IDENT", "TARGET", "MANIFEST"] {
        assert!(
            dir.join(required).is_file(),
            "{required} in {}",
            dir.display()
        );
    }
    assert_eq!(
        fs::read_to_string(dir.join("MANIFEST")).unwrap().trim(),
        manifest
    );
}

#[test]
fn pack_refuses_an_invalid_default_toml_naming_line_and_column() {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    let src = s.package_source("web");
    fs::write(src.join("default.toml"), "port = 80\ntitle = \"no end\n").unwrap();
    let out = s.path().join("out");
    let err = s.fails(&[
        "pkg",
        "pack",
        src.to_str().unwrap(),
        "--ident",
        "demo/web/1.0.0",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        err.contains(&format!(
            "error: cannot pack `{}`: not valid TOML at line 2, column 16: invalid basic string\n",
            src.join("default.toml").display()
        )),
        "{err}"
    );
    // Nothing was signed.
    assert_eq!(fs::read_dir(&out).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn a_package_identifier_or_a_directory_where_a_hart_belongs_gets_a_hint() {
    let s = Sandbox::new();
    let err = s.fails(&["pkg", "info", "demo/web"]);
    assert!(
        err.contains("error: no such file `demo/web`: hab pkg info reads a .hart file"),
        "{err}"
    );
    assert!(err.contains("hint: `hab pkg path demo/web`"), "{err}");
    assert!(err.contains("`hab pkg download demo/web`"), "{err}");
    assert!(!err.contains("os error"), "{err}");

    let dir = s.path().join("results");
    fs::create_dir(&dir).unwrap();
    let dir_str = dir.to_str().unwrap();
    for command in ["info", "verify", "header"] {
        let err = s.fails(&["pkg", command, dir_str]);
        assert!(
            err.contains(&format!("`{dir_str}` is a directory, not a .hart file")),
            "{err}"
        );
        assert!(!err.contains("os error"), "{err}");
    }
    // Upload checks its arguments before it looks for a depot.
    let err = s.fails(&["pkg", "upload", dir_str, "--url", "http://127.0.0.1:1"]);
    assert!(
        err.contains(&format!("`{dir_str}` is a directory, not a .hart file")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "hint: give the .hart files in it: hab pkg upload {dir_str}/*.hart"
        )),
        "{err}"
    );
    // A download directory (artifacts/ and keys/) is bulkupload's.
    fs::create_dir(dir.join("artifacts")).unwrap();
    let err = s.fails(&["pkg", "upload", dir_str, "--url", "http://127.0.0.1:1"]);
    assert!(
        err.contains(&format!(
            "hint: upload what it holds, keys included: hab pkg bulkupload {dir_str}"
        )),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");
}

#[test]
fn a_missing_hart_is_named_without_an_os_error() {
    let s = Sandbox::new();
    for command in ["info", "verify", "header"] {
        let err = s.fails(&["pkg", command, "gone.hart"]);
        assert_eq!(err, "error: no such file `gone.hart`\n");
    }
}
