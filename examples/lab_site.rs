//! Starts the lab's sample site and prints what it serves.
fn main() {}
