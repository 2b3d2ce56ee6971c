//! placeholder
pub use ws_protocols as protocols;
