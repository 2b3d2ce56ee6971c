//! hixie-75 / hixie-76 decoder, both roles: no panic, same outcome under any chunking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols::{Dialect, Role};
use ws_protocols_fuzz::check_split_invariance;

fuzz_target!(|input: (bool, bool, Vec<u16>, Vec<u8>)| {
    let (hixie76, client, cuts, wire) = input;
    let dialect = if hixie76 {
        Dialect::Hixie76
    } else {
        Dialect::Hixie75
    };
    let role = if client { Role::Client } else { Role::Server };
    check_split_invariance(dialect, role, &wire, &cuts);
});
