//! hybi-04 / hybi-05 / hybi-06 decoder, both roles: client frames masked whole from in
//! front (the header unmasked into a copy until it is complete), server frames in the
//! clear. No panic, same outcome under any chunking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_protocols::{Dialect, Role};
use ws_protocols_fuzz::check_split_invariance;

fuzz_target!(|input: (u8, bool, Vec<u16>, Vec<u8>)| {
    let (version, client, cuts, wire) = input;
    let dialect = [Dialect::Hybi04, Dialect::Hybi05, Dialect::Hybi06][usize::from(version % 3)];
    let role = if client { Role::Client } else { Role::Server };
    check_split_invariance(dialect, role, &wire, &cuts);
});
