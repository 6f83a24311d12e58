//! Resolving cloud `c` from any clouds.yaml never panics (YAML and JSON readers).
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use stacksweep::openstack::CloudConfig;

fuzz_target!(|data: &[u8]| {
    let Some((&ext, text)) = data.split_first() else {
        return;
    };
    let suffix = if ext % 2 == 0 { ".yaml" } else { ".json" };
    let Ok(mut file) = tempfile::Builder::new().suffix(suffix).tempfile() else {
        return;
    };
    if file.write_all(text).is_err() {
        return;
    }
    match CloudConfig::from_clouds_yaml(file.path(), "c") {
        Ok(cloud) => {
            let _ = format!("{cloud:?} {}", cloud.who());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
