//! `stacksweep demo` as a newcomer runs it: it must work on a machine with no cloud,
//! sweep the seeded job clean, and print the same story every time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// Replaces what changes between runs (IDs, the random tag, the port, timings, request
/// counts that depend on polling, pacing limits that depend on timing) so the rest can be compared exactly.
fn redact(text: &str) -> String {
    let rules: &[(&str, &str)] = &[
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[id]",
        ),
        (r"ci-[0-9a-f]{8}", "[tag]"),
        (r"\b[0-9a-f]{32}\b", "[project]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r"\d+\.\d+s\b", "[secs]"),
        (r"(stacksweep_api_requests_total\{[^}]*\}) \d+", "$1 [n]"),
        (r"(stacksweep_api_concurrency_limit\{[^}]*\}) \d+", "$1 [n]"),
        (r"API: \d+ requests", "API: [n] requests"),
        (r"(_seconds(_sum)?\{[^}]*\}) [0-9.e+]+", "$1 [value]"),
    ];
    let mut out = text.to_owned();
    for (pattern, with) in rules {
        out = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&out, *with)
            .into_owned();
    }
    // Column widths follow the longest redacted cell; collapse runs of spaces.
    regex::Regex::new(r" {2,}")
        .unwrap()
        .replace_all(&out, "  ")
        .into_owned()
}

/// The demo exits 0, reports every leaked resource deleted and every other one kept, and
/// its plan, report and metrics match the reviewed snapshot.
#[test]
fn demo_sweeps_the_seeded_job_and_prints_plan_report_and_metrics() {
    let output = Command::new(env!("CARGO_BIN_EXE_stacksweep"))
        .args(["demo", "--color", "never"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("ok  18 of 18 leaked resources deleted"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok  9 of 9 other resources untouched"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\x1b'),
        "no colour when not asked and not a terminal"
    );
    insta::assert_snapshot!(redact(&stdout));
}
