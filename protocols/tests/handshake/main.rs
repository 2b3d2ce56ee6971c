//! Opening handshakes end to end: the published vectors of docs/protocols.md §8.1 byte for byte,
//! every refusal with its exact status, client ⇄ server round trips for all six dialects, and
//! the client's refusal of tampered answers.

mod client;
mod compression;
mod garbage;
mod refusals;
mod support;
mod vectors;
