//! The agent web view in a real browser: Debian's Chromium, headless, driven through
//! chromedriver (WebDriver), against a `peyk serve` child. Ids and names are those of
//! docs/web-ui.md. Screenshots land in `target/screenshots/`.

mod kit;

use kit::{Browser, Peyk};

#[tokio::test]
async fn browser_harness_opens_chromium_and_reaches_serve() {
    let mut peyk = Peyk::new("").await;
    peyk.start();
    let browser = Browser::start("harness").await;
    browser.goto_url(&peyk.url("/healthz")).await;
    assert_eq!(browser.status().await, 200);
    let shot = browser.screenshot("healthz").await;
    assert!(std::fs::metadata(&shot).expect("screenshot").len() > 100);
    browser.quit().await;
    peyk.stop();
}
