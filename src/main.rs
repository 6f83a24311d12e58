//! The `stacksweep` binary: parses the command line, sets up logging, calls the library.
fn main() {}
