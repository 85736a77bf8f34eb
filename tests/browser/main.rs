//! End-to-end tests of the settings and monitoring page in a real headless Chromium, driven
//! over WebDriver. Needs Debian's `chromium` and `chromium-driver`; without them every test
//! fails and says what to install. Screenshots land in `target/ui-screenshots/`.

mod app;
mod webdriver;

mod budgets;
mod environments;
mod layout;
mod monitoring;
mod notifications;
mod security;
