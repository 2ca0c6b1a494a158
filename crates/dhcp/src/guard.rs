//! The seed-000 guard: remember the last lease, warn when the address changed.
