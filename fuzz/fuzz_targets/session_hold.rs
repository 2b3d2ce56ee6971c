//! Pipe sessions under arbitrary interleavings of their members' messages, drains, stuck
//! timers, leaves and the memory budget: what is held stays within its bounds, the budget's
//! gauge stays consistent, and every message arrives whole, in order, to everyone still
//! there (`ws::fuzzing::session_interleavings`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ws::fuzzing::session_interleavings(data);
});
