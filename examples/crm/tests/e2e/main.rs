//! The reference CRM end to end, on every backend the run has: over HTTP on
//! the real router, and in a real browser.
//!
//! One test binary; each module drives the app one way.

mod in_browser;
mod over_http;
