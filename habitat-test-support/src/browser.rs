//! A real browser for the web interface's tests: Debian's headless Chromium driven through
//! `chromedriver` (WebDriver) on a free 127.0.0.1 port, with a fresh profile, and with
//! everything that would reach beyond this machine turned off (background networking,
//! component updates, sync, metrics, safe browsing, extensions).
//!
//! Without `chromium` and `chromium-driver` installed, [`Browser::start`] says so and returns
//! `None`, and the test skips; with `HAB_TEST_BROWSER_REQUIRED=1` (as the CI script sets) it
//! fails instead. Screenshots go to `docs/screenshots/NAME.png` only with
//! `HAB_WRITE_SCREENSHOTS=1`, so that a test run does not change the working tree.
//!
//! [`OtherSite`] serves one page from another 127.0.0.1 port, for posting a form to the depot
//! from another origin.

use std::fs;
use std::net::TcpListener as StdListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::{Method, Url};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The keys [`Browser::press`] presses.
pub use fantoccini::key::Key;

/// `1`: a missing browser fails the test instead of skipping it.
pub const REQUIRED_VARIABLE: &str = "HAB_TEST_BROWSER_REQUIRED";

/// `1`: [`Browser::screenshot`] writes `docs/screenshots/NAME.png`.
pub const SCREENSHOTS_VARIABLE: &str = "HAB_WRITE_SCREENSHOTS";

/// The browser binary itself (Debian's `/usr/bin/chromium` is a shell wrapper that adds flags
/// and extensions of its own), then the wrapper; `HAB_CHROMIUM` overrides both.
const CHROMIUM_PATHS: [&str; 2] = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];

/// Where Debian's `chromium-driver` puts the driver; `HAB_CHROMEDRIVER` overrides it.
const CHROMEDRIVER_PATH: &str = "/usr/bin/chromedriver";

/// The desktop window the screenshots are made in.
pub const DESKTOP: (u32, u32) = (1280, 900);

/// A phone-sized window, for the mobile screenshots.
pub const PHONE: (u32, u32) = (390, 844);

/// How long a page element is waited for.
const WAIT: Duration = Duration::from_secs(30);

/// A headless Chromium session with its own `chromedriver` and profile. Close it with
/// [`Browser::close`]; dropping it kills the driver and the browser (their process group) in
/// any case, so a failed test leaves no process behind.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromedriver` and a headless session in a 1280×900 window, or `None` (having
    /// said why on stderr) when Chromium is not installed and not required.
    pub async fn start() -> Option<Self> {
        let Some((chromium, chromedriver)) = installed() else {
            let why = "the browser tests need Debian's `chromium` and `chromium-driver` \
                       (apt-get install chromium chromium-driver)";
            if std::env::var(REQUIRED_VARIABLE).is_ok_and(|v| v == "1") {
                panic!("{why}, and {REQUIRED_VARIABLE}=1");
            }
            eprintln!("skipped: {why}");
            return None;
        };
        // The port was free a moment ago; another process may take it first: try again then.
        for _ in 0..2 {
            if let Some(browser) = Self::launch(&chromium, &chromedriver, false).await {
                return Some(browser);
            }
        }
        Self::launch(&chromium, &chromedriver, true).await
    }

    /// `None` when the driver exited before answering (its port was taken) and this is not
    /// the `last` try.
    async fn launch(chromium: &Path, chromedriver: &Path, last: bool) -> Option<Self> {
        let profile = tempfile::Builder::new()
            .prefix("hab-browser-")
            .tempdir()
            .expect("a temp dir for the browser profile");
        let port = free_port();
        let log = profile.path().join("chromedriver.log");
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: the browser it starts is killed with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start `{}`: {e}", chromedriver.display()));
        let mut browser = Self {
            client: None,
            driver,
            profile,
        };
        let url = format!("http://127.0.0.1:{port}");
        if !browser.wait_for_driver(&url, last).await {
            return None;
        }
        let user_data = browser.profile.path().join("user-data");
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", user_data.display()));
        args.push(format!("--window-size={},{}", DESKTOP.0, DESKTOP.1));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
                "prefs": { "credentials_enable_service": false },
            },
            // The console, for [`Browser::page_errors`].
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("a Chromium session: {e}\n{}", browser.driver_log()));
        browser.client = Some(client);
        Some(browser)
    }

    /// Polls the driver's status until it answers (`true`); `false` when it exited first and
    /// this is not the `last` try.
    async fn wait_for_driver(&mut self, url: &str, last: bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        let http = reqwest::Client::new();
        loop {
            if let Ok(response) = http.get(format!("{url}/status")).send().await
                && response.status().is_success()
            {
                return true;
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                if !last {
                    return false;
                }
                panic!("chromedriver exited ({status}):\n{}", self.driver_log());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {url}:\n{}",
                self.driver_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn driver_log(&self) -> String {
        fs::read_to_string(self.profile.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open `{url}`: {e}"));
    }

    /// The address of the page shown.
    pub async fn url(&self) -> String {
        self.client()
            .current_url()
            .await
            .expect("the current address")
            .to_string()
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self
            .client()
            .current_url()
            .await
            .expect("the current address");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The element `css` selects, waited for.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client()
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no `{css}` on {}: {e}\n{}",
                self.url().await,
                self.text_now().await
            ),
        }
    }

    /// Every element `css` selects now (none is fine).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client()
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("look for `{css}`: {e}"))
    }

    /// Types `value` into the field `css` selects, after clearing it.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear `{css}`: {e}"));
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// Whether the form field `css` selects passes the browser's own checks (`required`,
    /// `pattern`, `maxlength`...).
    pub async fn is_valid(&self, css: &str) -> bool {
        let field = self.find(css).await;
        let valid = self
            .client()
            .execute(
                "return arguments[0].checkValidity();",
                vec![serde_json::to_value(&field).expect("an element reference")],
            )
            .await
            .unwrap_or_else(|e| panic!("check `{css}`: {e}"));
        valid == json!(true)
    }

    /// Chooses the option with `value` in the `<select>` `css` selects.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choose `{value}` in `{css}`: {e}"));
    }

    /// Clicks the element `css` selects (a button submitting a form waits for the next page).
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// The visible text of the page (read in one step, so a page being replaced does not
    /// leave a stale element behind).
    pub async fn text(&self) -> String {
        let text = self
            .client()
            .execute(
                "return document.body ? document.body.innerText : '';",
                Vec::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("the text of the page: {e}"));
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The visible text of the page, or nothing, without failing (for failure messages).
    async fn text_now(&self) -> String {
        match self
            .client()
            .execute(
                "return document.body ? document.body.innerText : '';",
                Vec::new(),
            )
            .await
        {
            Ok(text) => text.as_str().unwrap_or_default().to_owned(),
            Err(_) => String::new(),
        }
    }

    /// The HTML source of the page.
    pub async fn source(&self) -> String {
        self.client().source().await.expect("the page source")
    }

    /// Waits until the page shown contains `text`; panics with the page's text otherwise.
    pub async fn wait_for_text(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let shown = self.text_now().await;
            if shown.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{text}` not shown on {}:\n{shown}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the address shown has the path `path` (query ignored).
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self
                .client()
                .current_url()
                .await
                .expect("the current address");
            if url.path() == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "still on {url}, waiting for {path}:\n{}",
                self.text_now().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resizes the window (CSS pixels): [`DESKTOP`], [`PHONE`].
    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.client()
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resize the window to {width}×{height}: {e}"));
    }

    /// A PNG of the window (in the light theme), written to `docs/screenshots/NAME.png` when
    /// `HAB_WRITE_SCREENSHOTS=1`; returned in any case, so the test also checks that it
    /// could be made.
    pub async fn screenshot(&self, name: &str) -> Vec<u8> {
        let light = self
            .client()
            .execute(
                "return matchMedia('(prefers-color-scheme: light)').matches;",
                Vec::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("ask for the colour scheme: {e}"));
        assert_eq!(light, json!(true), "screenshots are in the light theme");
        let png = self
            .client()
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("a screenshot for `{name}`: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        if std::env::var(SCREENSHOTS_VARIABLE).is_ok_and(|v| v == "1") {
            let dir = screenshots_dir();
            fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create `{}`: {e}", dir.display()));
            let path = dir.join(format!("{name}.png"));
            fs::write(&path, &png).unwrap_or_else(|e| panic!("write `{}`: {e}", path.display()));
        }
        png
    }

    /// Runs `script` (a function body; `return` gives the answer) in the page.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client()
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("run a script in the page: {e}"))
    }

    /// Presses and releases `key` (as [`Key::Tab`]) on the keyboard.
    pub async fn press(&self, key: Key) {
        let actions = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        self.client()
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("press {key:?}: {e}"));
    }

    /// The outer HTML of the element that has the keyboard focus.
    pub async fn focused(&self) -> String {
        let element = self
            .client()
            .active_element()
            .await
            .expect("the focused element");
        element.html(false).await.expect("its HTML")
    }

    /// The form controls of the page that have no label: no `<label>`, no `aria-label`, no
    /// `aria-labelledby` (hidden inputs are not controls).
    pub async fn unlabelled_controls(&self) -> Vec<String> {
        let found = self
            .eval(
                "return [...document.querySelectorAll(\
                 'input:not([type=hidden]), select, textarea')]\
                 .filter(e => !(e.labels && e.labels.length) \
                   && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))\
                 .map(e => e.outerHTML);",
            )
            .await;
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect()
    }

    /// How many CSS pixels the page is wider than the window (0 when nothing sticks out, so
    /// nobody has to scroll sideways).
    pub async fn overflow_width(&self) -> i64 {
        self.eval(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        )
        .await
        .as_i64()
        .unwrap_or_default()
    }

    /// Makes the pages see `prefers-color-scheme: SCHEME` (`light`, `dark`), as a system
    /// set to that theme would.
    pub async fn prefer_color_scheme(&self, scheme: &str) {
        let command = Cdp {
            cmd: "Emulation.setEmulatedMedia",
            params: json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        };
        self.client()
            .issue_cmd(command)
            .await
            .unwrap_or_else(|e| panic!("emulate the {scheme} colour scheme: {e}"));
    }

    /// The computed `background-color` and `color` of `css`.
    pub async fn colors(&self, css: &str) -> (String, String) {
        let element = self.find(css).await;
        let background = element
            .css_value("background-color")
            .await
            .expect("a background colour");
        let color = element.css_value("color").await.expect("a colour");
        (background, color)
    }

    /// What the pages shown since the last call put in the console that a page must not:
    /// refusals by the Content-Security-Policy (an inline script or style, a resource from
    /// elsewhere) and uncaught script errors. A missing favicon and the error statuses a test
    /// asked for are not among them.
    pub async fn page_errors(&self) -> Vec<String> {
        let entries = self
            .client()
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("read the browser's console: {e}"));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["message"].as_str())
            .filter(|message| {
                ["Content Security Policy", "Refused to", "Uncaught"]
                    .iter()
                    .any(|bad| message.contains(bad))
            })
            .map(str::to_owned)
            .collect()
    }

    /// Fails when [`Browser::page_errors`] finds any.
    pub async fn assert_no_page_errors(&self) {
        let errors = self.page_errors().await;
        assert!(
            errors.is_empty(),
            "the pages logged errors:\n{}",
            errors.join("\n")
        );
    }

    /// Ends the session (the browser quits) and the driver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            // The driver and browser are killed below whatever this answers.
            let _ = client.close().await;
        }
    }

    fn kill(&mut self) {
        if let Ok(pid) = i32::try_from(self.driver.id())
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for line in self
                .driver_log()
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .iter()
                .rev()
            {
                eprintln!("chromedriver: {line}");
            }
        }
        self.kill();
    }
}

/// Chromium's console since the last call (a command of `chromedriver`'s own).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    // `url::ParseError`, named through the `Url` type it parses into.
    fn endpoint(
        &self,
        base: &Url,
        session: Option<&str>,
    ) -> Result<Url, <Url as std::str::FromStr>::Err> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &Url) -> (Method, Option<String>) {
        (Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// A Chrome DevTools Protocol command, through `chromedriver`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &Url,
        session: Option<&str>,
    ) -> Result<Url, <Url as std::str::FromStr>::Err> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &Url) -> (Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (Method::POST, Some(body.to_string()))
    }
}

/// Chromium's switches: headless, no sandbox (tests run as root in containers), and nothing
/// that would talk to anything but the pages opened.
const CHROME_ARGS: [&str; 25] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--metrics-recording-only",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--safebrowsing-disable-auto-update",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--no-pings",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,\
     AsyncDns,DnsOverHttps",
    // No name resolution at all: the pages opened are on 127.0.0.1 by address.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--blink-settings=preferredColorScheme=1",
    "--lang=en-US",
];

/// The browser and its driver, when both are installed.
fn installed() -> Option<(PathBuf, PathBuf)> {
    let chromium = match std::env::var_os("HAB_CHROMIUM") {
        Some(path) => Some(PathBuf::from(path)),
        None => CHROMIUM_PATHS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file()),
    }?;
    let chromedriver = std::env::var_os("HAB_CHROMEDRIVER")
        .map_or_else(|| PathBuf::from(CHROMEDRIVER_PATH), PathBuf::from);
    (chromium.is_file() && chromedriver.is_file()).then_some((chromium, chromedriver))
}

/// `docs/screenshots` of the workspace.
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join("screenshots")
}

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// One HTML page served at every path of another 127.0.0.1 port: a site that is not the
/// depot. Stops serving when dropped.
pub struct OtherSite {
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl OtherSite {
    /// Serves `html` (answering every request with it) until dropped.
    pub async fn serve(html: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port on 127.0.0.1");
        let url = format!(
            "http://{}/",
            listener.local_addr().expect("the listener's address")
        );
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let html = html.clone();
                tokio::spawn(async move {
                    // The request itself does not matter: read what came, answer the page.
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n",
                        html.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(html.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { url, task }
    }

    /// A page that posts `fields` to `action` as soon as it loads, as a hostile site would.
    pub async fn auto_post(action: &str, fields: &[(&str, &str)]) -> Self {
        let inputs: String = fields
            .iter()
            .map(|(name, value)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    escape(name),
                    escape(value)
                )
            })
            .collect();
        Self::serve(format!(
            "<!doctype html><html><head><title>Another site</title></head><body>\
             <form id=\"f\" method=\"post\" action=\"{}\">{inputs}\
             <button type=\"submit\">Go</button></form>\
             <script>document.getElementById('f').submit();</script></body></html>",
            escape(action)
        ))
        .await
    }
}

impl Drop for OtherSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `text` safe inside an HTML attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
