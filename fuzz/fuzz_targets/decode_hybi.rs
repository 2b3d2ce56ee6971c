//! hybi-07 / hybi-08 / RFC 6455 decoder, both roles: no panic, same outcome under any
//! chunking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols::{Dialect, Role};
use ws_protocols_fuzz::check_split_invariance;

fuzz_target!(|input: (u8, bool, Vec<u16>, Vec<u8>)| {
    let (version, client, cuts, wire) = input;
    let dialect = [Dialect::Hybi07, Dialect::Hybi08, Dialect::Rfc6455][usize::from(version % 3)];
    let role = if client { Role::Client } else { Role::Server };
    check_split_invariance(dialect, role, &wire, &cuts);
});
