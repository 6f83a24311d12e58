//! Error bodies (any bytes: JSON of every service's shape, HTML, text) and `Retry-After`
//! values parse without panicking.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use stacksweep::openstack::{parse_error_body, parse_retry_after};

fuzz_target!(|data: &[u8]| {
    let _ = parse_error_body(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        if let Some(wait) = parse_retry_after(text, now) {
            // The request path adds it to the time spent so far: it must not overflow.
            let _ = Duration::from_secs(3600) + wait;
        }
    }
});
