//! The `annexr` command-line tool for field engineers.

fn main() {
    println!("annexr {}", env!("CARGO_PKG_VERSION"));
}
