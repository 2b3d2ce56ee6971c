//! What the benchmark clients (`loadgen`, `idle_conns`) offer with `--deflate`, and how they
//! print what the server agreed to. Shared, so both measure the same offer.

use ws_protocols::compression::{Compression, DeflatePolicy, StreamParams};

/// What `--deflate` offers: what npm `ws`'s client and browsers offer by default,
/// `permessage-deflate; client_max_window_bits` (15-bit windows, context kept both ways
/// unless the server's answer says otherwise). Every message is compressed, however short,
/// as browsers do (npm `ws`'s client would leave those under 1024 bytes plain).
pub fn deflate_offer() -> DeflatePolicy {
    DeflatePolicy {
        deflate_frame: false,
        min_size: 0,
        ..DeflatePolicy::keep_context()
    }
}

/// `client:BITS:kept|reset,server:BITS:kept|reset` for what was agreed, from our side.
pub fn describe(agreed: Option<&Compression>) -> String {
    let side = |params: &StreamParams| {
        let context = if params.keep_context { "kept" } else { "reset" };
        format!("{}:{context}", params.window_bits)
    };
    match agreed {
        Some(c) => format!("client:{},server:{}", side(&c.ours), side(&c.theirs)),
        None => "none".to_string(),
    }
}
