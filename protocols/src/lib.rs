//! Sans-IO codecs for every WebSocket dialect ever shipped.
#![deny(missing_docs)]

pub mod close;
pub mod dialect;
pub mod error;
pub mod event;
pub mod handshake;
pub mod limits;

pub use dialect::{Caps, Dialect, Framing, HandshakeFamily, Role, SUPPORTED_VERSIONS};
pub use error::{EncodeError, ProtocolError};
pub use event::{CloseFrame, Event, MessageKind};
pub use handshake::{ClientHandshakeError, HandshakeError};
pub use limits::Limits;
