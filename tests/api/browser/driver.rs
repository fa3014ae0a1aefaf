//! A headless Chromium per test, driven over WebDriver: Debian's `chromedriver` on a free
//! loopback port, its own fresh profile directory, and a fantoccini client. Everything is
//! torn down when the [`Browser`] is dropped, also when a test panics.
//!
//! A machine without the browser gets it from `scripts/browser.sh install`; a browser that
//! cannot be installed or started fails the test, never skips it.

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::poll_until;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to answer `/status`, and Chromium to open a session.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a page may take to show what a test waits for.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The flags that let Chromium run headless as root on a machine without general internet
/// access (without the networking ones it keeps trying to reach Google's hosts).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// One chromedriver (with its Chromium) and a WebDriver session on it.
pub struct Browser {
    pub client: Client,
    driver: Driver,
}

/// The chromedriver process group and the profile directory; killed and removed on drop.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Browser {
    /// Installs the browser if it is missing, starts chromedriver and opens a session.
    pub async fn start() -> Browser {
        ensure_installed();
        let profile = std::env::temp_dir().join(format!("pettysync-chromium-{}", Uuid::new_v4()));
        fs::create_dir_all(&profile).expect("the browser profile directory can be made");
        let port = free_port();
        let log = profile.join("chromedriver.log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop can end Chromium along with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER} starts: {e}"));
        let mut driver = Driver { child, profile };
        let url = format!("http://127.0.0.1:{port}");
        driver.wait_ready(&url).await;
        // Several crates enable both of rustls' providers, so none is the default: pick one
        // (an error only says that one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientBuilder::rustls()
            .expect("the WebDriver client builds")
            .capabilities(capabilities(&driver.profile))
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium starts under chromedriver: {e}\n{}",
                    driver.log_tail()
                )
            });
        Browser { client, driver }
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let Browser { client, driver } = self;
        // Drop kills whatever the session's end left behind.
        let _ = client.close().await;
        drop(driver);
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("the browser opens {url}: {e}"));
    }

    /// The text of the first element that `css` selects, once there is one.
    pub async fn text_of(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        element
            .text()
            .await
            .unwrap_or_else(|e| panic!("the text of {css} can be read: {e}"))
    }

    /// The first element that `css` selects, waiting up to [`PAGE_TIMEOUT`] for it.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let client = &self.client;
        poll_until(&format!("an element {css}"), PAGE_TIMEOUT, || async move {
            client
                .find(Locator::Css(css))
                .await
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// Waits for the element `css` and types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("{css} takes typing: {e}"));
    }

    /// Waits for the element `css` and clicks it.
    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("{css} can be clicked: {e}"));
    }

    /// Waits until the attribute `name` of the element `css` satisfies `accept`; returns it.
    pub async fn wait_for_attr(
        &self,
        css: &str,
        name: &str,
        what: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let client = &self.client;
        let accept = &accept;
        poll_until(what, PAGE_TIMEOUT, || async move {
            let element = client
                .find(Locator::Css(css))
                .await
                .map_err(|e| e.to_string())?;
            let value = element.attr(name).await.map_err(|e| e.to_string())?;
            match value {
                Some(value) if accept(&value) => Ok(value),
                other => Err(format!("{css}[{name}] is {other:?}")),
            }
        })
        .await
    }

    /// Waits until the text of the element `css` satisfies `accept`; returns it.
    pub async fn wait_for_text(
        &self,
        css: &str,
        what: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let client = &self.client;
        let accept = &accept;
        poll_until(what, PAGE_TIMEOUT, || async move {
            let element = client
                .find(Locator::Css(css))
                .await
                .map_err(|e| e.to_string())?;
            let text = element.text().await.map_err(|e| e.to_string())?;
            if accept(&text) {
                Ok(text)
            } else {
                Err(format!("{css} says {text:?}"))
            }
        })
        .await
    }

    /// Whether an element that `css` selects is there and displayed.
    pub async fn is_shown(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element
                .is_displayed()
                .await
                .unwrap_or_else(|e| panic!("the display of {css} can be read: {e}")),
            Err(_) => false,
        }
    }

    /// Where the browser saves downloads (without asking).
    pub fn download_dir(&self) -> PathBuf {
        download_dir(&self.driver.profile)
    }

    /// Saves a screenshot (PNG), for looking at a page while writing a test.
    #[allow(dead_code)]
    pub async fn screenshot(&self, path: &Path) {
        let png = self
            .client
            .screenshot()
            .await
            .expect("the browser takes a screenshot");
        fs::write(path, png).expect("the screenshot can be written");
    }
}

impl Driver {
    /// Waits until chromedriver answers `/status` as ready; fails loudly if it exits.
    async fn wait_ready(&mut self, url: &str) {
        let status_url = format!("{url}/status");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("chromedriver exited at start ({exit})\n{}", self.log_tail());
            }
            let ready = match http.get(&status_url).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|status| status["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {url} within {START_TIMEOUT:?}\n{}",
                self.log_tail()
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.profile.join("chromedriver.log")).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        format!("chromedriver log (tail):\n{}", &log[start..])
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.profile);
    }
}

fn download_dir(profile: &Path) -> PathBuf {
    profile.join("downloads")
}

/// Chromium, headless, with its own fresh profile, saving downloads without asking.
fn capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
    args.push(format!(
        "--user-data-dir={}",
        profile.join("chromium").display()
    ));
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": args,
            "prefs": {
                "download.default_directory": download_dir(profile),
                "download.prompt_for_download": false,
            },
        },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// A loopback port that was free a moment ago (chromedriver cannot be told to pick one and
/// say which).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a loopback port can be bound")
        .port()
}

/// Runs `scripts/browser.sh install` once per test run when the browser is missing.
fn ensure_installed() {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let mut done = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if *done || (Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
        *done = true;
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/browser.sh");
    let status = Command::new("bash")
        .args([script, "install"])
        .status()
        .unwrap_or_else(|e| panic!("{script} runs: {e}"));
    assert!(
        status.success(),
        "{script} install failed ({status}): the browser tests need Debian's chromium and chromium-driver"
    );
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "{CHROMIUM} and {CHROMEDRIVER} are still missing after {script} install"
    );
    *done = true;
}
