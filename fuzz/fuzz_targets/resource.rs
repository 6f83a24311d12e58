//! Parsing any JSON as any kind of resource never panics; what parses can be labelled.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stacksweep::resources::{self, Kind};

fuzz_target!(|data: &[u8]| {
    let Some((&k, json)) = data.split_first() else {
        return;
    };
    let kind = Kind::ALL[usize::from(k) % Kind::ALL.len()];
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    match resources::parse(kind, &value) {
        Ok(r) => {
            let _ = (r.label(), r.holders().count());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
