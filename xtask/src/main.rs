//! Project automation: `cargo xtask demo | test | lab`.

fn main() {}
