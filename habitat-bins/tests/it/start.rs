//! `hab start`: the real `hab` runs services packed with `hab pkg pack`, installed from a real
//! `hab-depot` (or from a .hart), under a sandboxed FS_ROOT. Waits are bounded polls.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::process::Signal;

use crate::support::{Background, DepotProcess, Sandbox, start_depot, user_create, wait_for};

const OLD: &str = "20250101000000";
const NEW: &str = "20250102000000";

/// How long anything may take to show up.
const PATIENCE: Duration = Duration::from_secs(30);

/// The service: init appends to `init.log`; run writes values rendered from `cfg` and `pkg`,
/// and what its dependencies' programs print, to `out.txt`, then sleeps.
const APP_INIT: &str = r#"#!/bin/sh
echo "init {{pkg.release}}" >> "{{pkg.svc_var_path}}/init.log"
echo initialized
"#;
const APP_RUN: &str = r#"#!/bin/sh
out="{{pkg.svc_var_path}}/out.txt"
printf '%s|%s|%s|%s|%s\n' "{{cfg.greeting}}" "{{cfg.server.host}}" "{{cfg.server.port}}" "$(libb) $(liba)" "{{pkg.release}}" > "$out.tmp"
echo "$PATH" > "{{pkg.svc_var_path}}/path.txt"
mv "$out.tmp" "$out"
echo "running {{pkg.release}}"
exec sleep 600
"#;
const APP_DEFAULT: &str = "greeting = \"hello\"\n[server]\nhost = \"localhost\"\nport = 8080\n";
const APP_USER: &str = "greeting = \"hi <you> & co\"\n[server]\nhost = \"0.0.0.0\"\n";

/// Writes a package source directory `src-NAME-svc` with SVC_USER and `files` (relative path,
/// content); replaces an earlier one.
fn service_source(sandbox: &Sandbox, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = sandbox.path().join(format!("src-{name}-svc"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("SVC_USER"), "hab\n").unwrap();
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
    }
    dir
}

/// Packs `files` as `ident` with `deps`; returns the .hart.
fn pack_service(sandbox: &Sandbox, ident: &str, deps: &[&str], files: &[(&str, &str)]) -> PathBuf {
    let name = ident.split('/').nth(1).unwrap();
    let src = service_source(sandbox, name, files);
    let mut args = vec!["pkg", "pack", src.to_str().unwrap(), "--ident", ident];
    for dep in deps {
        args.extend(["--dep", dep]);
    }
    sandbox.path().join(sandbox.ok(&args).trim())
}

/// Packs `ident` with one executable, `bin/NAME`, which prints NAME.
fn pack_program(sandbox: &Sandbox, ident: &str, deps: &[&str]) -> PathBuf {
    let name = ident.split('/').nth(1).unwrap();
    let src = sandbox.path().join(format!("src-{name}-program"));
    let program = src.join("bin").join(name);
    std::fs::create_dir_all(program.parent().unwrap()).unwrap();
    std::fs::write(&program, format!("#!/bin/sh\necho {name}\n")).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut args = vec!["pkg", "pack", src.to_str().unwrap(), "--ident", ident];
    for dep in deps {
        args.extend(["--dep", dep]);
    }
    sandbox.path().join(sandbox.ok(&args).trim())
}

fn app_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("hooks/init", APP_INIT),
        ("hooks/run", APP_RUN),
        ("default.toml", APP_DEFAULT),
        ("config/app.toml", "{{toToml cfg.server}}"),
    ]
}

/// A depot with `demo/liba` and `demo/libb` (needs liba), and `demo/app` (needs libb)
/// published on demand.
struct Published {
    publisher: Sandbox,
    depot: DepotProcess,
    token: String,
    /// The sha256 of `1.root.json`, for a depot with TUF.
    fingerprint: Option<String>,
}

impl Published {
    fn new() -> Self {
        Self::build(false)
    }

    /// With a TUF repository (`hab-depot tuf init` before the depot starts).
    fn with_tuf() -> Self {
        Self::build(true)
    }

    fn build(tuf: bool) -> Self {
        let publisher = Sandbox::new();
        let data = publisher.path().join("depot-data");
        let token = user_create(&data, "alice");
        let fingerprint = tuf.then(|| {
            crate::support::hab_depot(&[
                "tuf".as_ref(),
                "init".as_ref(),
                "--data-dir".as_ref(),
                data.as_os_str(),
            ])
            .trim()
            .to_owned()
        });
        let depot = start_depot(&data);
        let published = Self {
            publisher,
            depot,
            token,
            fingerprint,
        };
        published.hab(&["origin", "create", "demo"]);
        published
            .publisher
            .ok(&["origin", "key", "generate", "demo"]);
        published.hab(&["origin", "key", "upload", "demo"]);
        let liba = pack_program(&published.publisher, &format!("demo/liba/1.0.0/{OLD}"), &[]);
        published
            .publisher
            .ok(&["pkg", "install", liba.to_str().unwrap()]);
        let libb = pack_program(
            &published.publisher,
            &format!("demo/libb/1.0.0/{OLD}"),
            &["demo/liba"],
        );
        published
            .publisher
            .ok(&["pkg", "install", libb.to_str().unwrap()]);
        published.hab(&[
            "pkg",
            "upload",
            liba.to_str().unwrap(),
            libb.to_str().unwrap(),
        ]);
        published
    }

    #[track_caller]
    fn hab(&self, args: &[&str]) {
        let out = self
            .publisher
            .hab()
            .env("HAB_BLDR_URL", &self.depot.url)
            .env("HAB_AUTH_TOKEN", &self.token)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Packs `demo/app/1.0.0/RELEASE`, uploads it and promotes it to `channel`.
    fn publish_app(&self, release: &str, channel: &str) {
        let hart = pack_service(
            &self.publisher,
            &format!("demo/app/1.0.0/{release}"),
            &["demo/libb"],
            &app_files(),
        );
        self.hab(&["pkg", "upload", hart.to_str().unwrap(), "-c", channel]);
    }

    /// The seed-era view URL of `channel`.
    fn view(&self, channel: &str) -> String {
        format!("{}/depot/views/{channel}", self.depot.url)
    }
}

fn svc(sandbox: &Sandbox, name: &str) -> PathBuf {
    sandbox.fs_root().join("hab/svc").join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `hab start ARGS` in the background.
fn start(sandbox: &Sandbox, args: &[&str]) -> Background {
    let mut command = sandbox.hab();
    command.arg("start").args(args);
    Background::spawn(command, sandbox.path(), "start")
}

/// Waits until `path` exists and holds `needle`; returns its content.
#[track_caller]
fn wait_for_text(path: &Path, needle: &str) -> String {
    wait_for(
        &format!("`{needle}` in {}", path.display()),
        PATIENCE,
        || read(path).contains(needle),
    );
    read(path)
}

fn pid_alive(pid: &str) -> bool {
    let pid = rustix::process::Pid::from_raw(pid.trim().parse().unwrap()).unwrap();
    rustix::process::test_kill_process(pid).is_ok()
}

#[test]
fn start_installs_from_a_view_url_and_runs_the_rendered_service() {
    let published = Published::new();
    published.publish_app(OLD, "prod");
    let s = Sandbox::new();
    let user = s.fs_root().join("hab/user/app/config/user.toml");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, APP_USER).unwrap();

    let mut service = start(&s, &["demo/app", "--url", &published.view("prod")]);
    let out = svc(&s, "app").join("var/out.txt");
    let text = wait_for_text(&out, "\n");
    // user.toml wins, default.toml fills in, nothing is HTML-escaped; the dependencies'
    // programs are on the PATH.
    assert_eq!(
        text,
        format!("hi <you> & co|0.0.0.0|8080|libb liba|{OLD}\n")
    );
    assert_eq!(
        read(&svc(&s, "app").join("var/init.log")),
        format!("init {OLD}\n")
    );
    let bin = |name: &str| {
        s.fs_root()
            .join(format!("hab/pkgs/demo/{name}/1.0.0/{OLD}/bin"))
            .display()
            .to_string()
    };
    let path = read(&svc(&s, "app").join("var/path.txt"));
    assert!(
        path.starts_with(&format!("{}:{}:", bin("libb"), bin("liba"))),
        "{path}"
    );

    let listed = s.ok(&["pkg", "list"]);
    for name in ["app", "liba", "libb"] {
        assert!(
            listed.contains(&format!("demo/{name}/1.0.0/{OLD}")),
            "{listed}"
        );
    }
    let keys: Vec<_> = std::fs::read_dir(s.keys()).unwrap().collect();
    assert_eq!(keys.len(), 1);
    let config = read(&svc(&s, "app").join("config/app.toml"));
    assert!(
        config.contains("host = \"0.0.0.0\"") && config.contains("port = 8080"),
        "{config}"
    );
    let mode = std::fs::metadata(svc(&s, "app").join("hooks/run"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    for dir in ["config", "data", "files", "hooks", "logs", "var", "static"] {
        assert!(svc(&s, "app").join(dir).is_dir(), "{dir}");
    }
    wait_for("the run hook's output", PATIENCE, || {
        service
            .stdout()
            .contains(&format!("app.default(O): running {OLD}"))
    });
    assert!(
        service.stdout().contains("app.default(HK): initialized"),
        "{}",
        service.stdout()
    );
    let err = service.stderr();
    assert!(err.contains("Downloading public key demo-"), "{err}");
    assert!(
        err.contains(&format!("Installed demo/app/1.0.0/{OLD}")),
        "{err}"
    );

    let pid = read(&svc(&s, "app").join("PID"));
    assert!(pid_alive(&pid));
    service.signal(Signal::TERM);
    assert!(
        service.exits_within(PATIENCE).success(),
        "{}",
        service.stderr()
    );
    assert!(!pid_alive(&pid));
    assert!(!svc(&s, "app").join("PID").exists());
}

#[test]
fn at_once_follows_the_verified_index_with_a_pinned_root() {
    let published = Published::with_tuf();
    published.publish_app(OLD, "prod");
    let s = Sandbox::new();
    let base = published.depot.url.trim_end_matches("/v1").to_owned();
    let fingerprint = published.fingerprint.clone().unwrap();
    s.ok(&[
        "depot",
        "trust",
        "--url",
        &base,
        "--root-sha256",
        &fingerprint,
    ]);
    let mut service = start(
        &s,
        &[
            "demo/app",
            "--url",
            &published.view("prod"),
            "--strategy",
            "at-once",
            "--update-interval",
            "1",
        ],
    );
    let out = svc(&s, "app").join("var/out.txt");
    wait_for_text(&out, OLD);
    published.publish_app(NEW, "prod");
    wait_for_text(&out, NEW);
    let err = service.stderr();
    assert!(!err.contains("are not verified"), "{err}");
    assert!(
        err.contains(&format!(
            "Updating app from demo/app/1.0.0/{OLD} to demo/app/1.0.0/{NEW}"
        )),
        "{err}"
    );
    service.signal(Signal::INT);
    service.exits_within(PATIENCE);
}

#[test]
fn at_once_moves_the_service_to_a_newer_release_in_the_channel() {
    let published = Published::new();
    published.publish_app(OLD, "prod");
    let s = Sandbox::new();
    let mut service = start(
        &s,
        &[
            "demo/app",
            "--url",
            &published.view("prod"),
            "--strategy",
            "at-once",
            "--update-interval",
            "1",
        ],
    );
    let out = svc(&s, "app").join("var/out.txt");
    wait_for_text(&out, OLD);
    let old_pid = read(&svc(&s, "app").join("PID"));

    published.publish_app(NEW, "prod");
    let text = wait_for_text(&out, NEW);
    assert_eq!(text, format!("hello|localhost|8080|libb liba|{NEW}\n"));
    assert_eq!(
        read(&svc(&s, "app").join("var/init.log")),
        format!("init {OLD}\ninit {NEW}\n")
    );
    assert!(!pid_alive(&old_pid));
    let err = service.stderr();
    assert!(
        err.contains(&format!(
            "Updating app from demo/app/1.0.0/{OLD} to demo/app/1.0.0/{NEW}"
        )),
        "{err}"
    );
    assert!(
        s.ok(&["pkg", "list"])
            .contains(&format!("demo/app/1.0.0/{NEW}"))
    );

    service.signal(Signal::INT);
    assert!(
        service.exits_within(PATIENCE).success(),
        "{}",
        service.stderr()
    );
}

/// A sandbox with its own origin key, to pack services and start them from their .hart.
fn local() -> Sandbox {
    let s = Sandbox::new();
    s.ok(&["origin", "key", "generate", "demo"]);
    s
}

#[test]
fn sigterm_stops_the_service_and_hab_start_exits() {
    let s = local();
    let run = r#"#!/bin/sh
trap 'echo stopped > "{{pkg.svc_var_path}}/stopped"; exit 0' TERM
echo $$ > "{{pkg.svc_var_path}}/pid"
while true; do sleep 1; done
"#;
    let hart = pack_service(
        &s,
        &format!("demo/svc/1.0.0/{OLD}"),
        &[],
        &[("hooks/run", run)],
    );
    let mut service = start(&s, &[hart.to_str().unwrap()]);
    let pid_file = svc(&s, "svc").join("var/pid");
    wait_for_text(&pid_file, "\n");
    let pid = read(&pid_file);
    assert!(pid_alive(&pid));

    service.signal(Signal::TERM);
    let status = service.exits_within(PATIENCE);
    assert!(status.success(), "{status:?}: {}", service.stderr());
    assert_eq!(read(&svc(&s, "svc").join("var/stopped")), "stopped\n");
    assert!(!pid_alive(&pid));
    assert!(service.stderr().contains("SIGTERM received: stopping svc"));
}

#[test]
fn a_run_hook_that_dies_is_restarted_with_back_off() {
    let s = local();
    let run = r#"#!/bin/sh
echo start >> "{{pkg.svc_var_path}}/starts"
echo dying >&2
exit 3
"#;
    let hart = pack_service(
        &s,
        &format!("demo/crash/1.0.0/{OLD}"),
        &[],
        &[("hooks/run", run)],
    );
    let mut service = start(&s, &[hart.to_str().unwrap()]);
    let starts = svc(&s, "crash").join("var/starts");
    wait_for("three starts", PATIENCE, || {
        read(&starts).lines().count() >= 3
    });
    let err = service.stderr();
    assert!(
        err.contains("crash exited unexpectedly with status 3; restarting in 1 s"),
        "{err}"
    );
    assert!(err.contains("restarting in 2 s"), "{err}");
    assert!(err.contains("crash.default(O): dying"), "{err}");

    service.signal(Signal::TERM);
    assert!(service.exits_within(PATIENCE).success());
}

#[test]
fn a_template_error_is_reported_naming_the_file_and_line() {
    let s = local();
    let unclosed = pack_service(
        &s,
        &format!("demo/bad/1.0.0/{OLD}"),
        &[],
        &[(
            "hooks/run",
            "#!/bin/sh\necho ok\n{{#if cfg.x}}\nexec sleep 600\n",
        )],
    );
    let mut service = start(&s, &[unclosed.to_str().unwrap()]);
    assert!(!service.exits_within(PATIENCE).success());
    let err = service.stderr();
    assert!(err.contains("hooks/run` does not parse"), "{err}");
    assert!(err.contains(", line "), "{err}");
    drop(service);

    let failing = pack_service(
        &s,
        &format!("demo/bad/1.0.0/{NEW}"),
        &[],
        &[
            ("hooks/run", "#!/bin/sh\nexec sleep 600\n"),
            (
                "config/app.conf",
                "a = 1\nb = {{pkgPathFor \"demo/nope\"}}\n",
            ),
        ],
    );
    let mut service = start(&s, &[failing.to_str().unwrap()]);
    assert!(!service.exits_within(PATIENCE).success());
    let err = service.stderr();
    assert!(
        err.contains("config/app.conf` does not render, line 2"),
        "{err}"
    );
    assert!(!svc(&s, "bad").join("PID").exists());
}

#[test]
fn start_refuses_what_it_cannot_run() {
    let s = local();
    // A package of programs, not a service.
    let tool = s.pack(&format!("demo/tool/1.0.0/{OLD}"), &[]);
    let mut service = start(&s, &[tool.to_str().unwrap()]);
    assert!(!service.exits_within(PATIENCE).success());
    assert!(
        service
            .stderr()
            .contains("is not a service: it has no run hook")
    );
    drop(service);

    // A failing init hook stops the start.
    let init_fails = pack_service(
        &s,
        &format!("demo/broken/1.0.0/{OLD}"),
        &[],
        &[
            ("hooks/init", "#!/bin/sh\necho cannot >&2\nexit 4\n"),
            (
                "hooks/run",
                "#!/bin/sh\necho run >> \"{{pkg.svc_var_path}}/ran\"\n",
            ),
        ],
    );
    let mut service = start(&s, &[init_fails.to_str().unwrap()]);
    assert!(!service.exits_within(PATIENCE).success());
    let err = service.stderr();
    assert!(err.contains("broken.default(HK): cannot"), "{err}");
    assert!(err.contains("the init hook of demo/broken/1.0.0/"), "{err}");
    assert!(err.contains("failed with status 4"), "{err}");
    assert!(!svc(&s, "broken").join("var/ran").exists());
    drop(service);

    // One exact release: nothing for at-once to follow.
    let err = s.fails(&[
        "start",
        &format!("demo/broken/1.0.0/{OLD}"),
        "--strategy",
        "at-once",
    ]);
    assert!(
        err.contains("nothing for --strategy at-once to follow"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

/// A TCP relay to `upstream` that can play an unreachable depot: while `down`, it closes
/// every connection as soon as it is accepted.
struct Relay {
    port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    fn new(upstream: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = down.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(upstream) else {
                    continue;
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Self { port, down }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn at_once_reports_a_depot_that_goes_away_once_and_its_return_once() {
    let published = Published::new();
    published.publish_app(OLD, "prod");
    let upstream: std::net::SocketAddr = published
        .depot
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    let relay = Relay::new(upstream);
    let base = format!("http://127.0.0.1:{}", relay.port);
    let s = Sandbox::new();
    let mut service = start(
        &s,
        &[
            "demo/app",
            "--url",
            &format!("{base}/v1/depot/views/prod"),
            "--strategy",
            "at-once",
            "--update-interval",
            "1",
        ],
    );
    let out = svc(&s, "app").join("var/out.txt");
    wait_for_text(&out, OLD);

    relay.set_down(true);
    let gone = "cannot reach the depot at";
    wait_for("the depot reported unreachable", PATIENCE, || {
        service.stderr().contains(gone)
    });
    // Several more failed checks (each takes its retries) say nothing new.
    std::thread::sleep(Duration::from_secs(9));
    relay.set_down(false);
    let back = "the depot answers again";
    wait_for("the depot reported back", PATIENCE, || {
        service.stderr().contains(back)
    });
    std::thread::sleep(Duration::from_secs(2));

    let err = service.stderr();
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(gone)).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].len() < 160, "{}", lines[0]);
    assert_eq!(lines[0].matches(&base).count(), 1, "{}", lines[0]);
    assert_eq!(err.matches(back).count(), 1, "{err}");

    // And it still follows the channel.
    published.publish_app(NEW, "prod");
    wait_for_text(&out, NEW);
    service.signal(Signal::INT);
    assert!(
        service.exits_within(PATIENCE).success(),
        "{}",
        service.stderr()
    );
}
