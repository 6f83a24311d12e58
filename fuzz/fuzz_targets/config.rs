//! The config parser and validator never panic, whatever the TOML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stacksweep::cli::common::with_known_names;
use stacksweep::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = with_known_names(|known| Config::parse(text, "fuzz.toml", known)) {
            // Rendering the error (every problem, with its path) must not panic either.
            let _ = e.to_string();
        }
    }
});
