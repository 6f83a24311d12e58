//! The config parser and validator never panic, whatever the TOML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stacksweep::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = Config::parse(text, "fuzz.toml") {
            // Rendering the error (every problem, with its path) must not panic either.
            let _ = e.to_string();
        }
    }
});
