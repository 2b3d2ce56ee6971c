//! hybi-03 (MORE bit) decoder, both roles: no panic, same outcome under any chunking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols::{Dialect, Role};
use ws_protocols_fuzz::check_split_invariance;

fuzz_target!(|input: (bool, Vec<u16>, Vec<u8>)| {
    let (client, cuts, wire) = input;
    let role = if client { Role::Client } else { Role::Server };
    check_split_invariance(Dialect::Hybi03, role, &wire, &cuts);
});
