//! Pipe sessions driven through a model of the server: arbitrary interleavings of members'
//! messages, queue drains, stuck timers, leaves and the memory budget tipping over, with
//! the session's rules checked after every step.
//!
//! The model plays the event loop's part as the loop does: a paused member starts no new
//! message, and the message it is sending goes on for at most one read's worth of bytes
//! (`AFTER_PAUSE` here, a scaled-down read); a socket the session closes or destroys
//! leaves (`closed`), and a queue that drains to a watched level reports it (`drained`).
//!
//! Checked after every step:
//! - nothing held for a receiver passes its bounds by more than the senders could add
//!   before being paused (each at most an entry and one read's worth of bytes);
//! - the memory budget's gauge never goes below zero, and equals the hold queues' cost
//!   whenever the session has just accounted it; it is zero once everyone has left;
//! - no receiver gets two messages at once, a message of the wrong length, or one that a
//!   sender did not send; each sender's messages arrive in order.
//!
//! And at the end, once every sender has finished its message and every queue has been
//! drained: every member still there got every message every other member finished.

use crate::error::SendError;
use crate::pipe::hold::ENTRY_COST;
use crate::pipe::{Host, SessionOptions, Sessions};
use crate::settings::HixieBinary;
use crate::socket::{ReadyState, Socket, SocketId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use ws_protocols::handshake::Request;
use ws_protocols::{Dialect, MessageKind};

/// Members of the one session (at most; the input picks 2 to this many).
const MAX_MEMBERS: usize = 5;
/// The session's per-receiver buffer, scaled down so the bounds are reached quickly.
const BUFFER: usize = 4096;
/// Messages held per receiver before senders pause.
const MAX_HELD: usize = 8;
/// Bytes a paused sender's current message may still bring: the rest of the read.
const AFTER_PAUSE: usize = 1024;
/// Largest chunk one step sends.
const MAX_CHUNK: usize = 255;
/// Steps at most, so one input cannot run for long.
const MAX_STEPS: usize = 4096;

fn id(index: usize) -> SocketId {
    SocketId {
        index: index as u32,
        generation: 1,
    }
}

/// One member's socket, as the session sees it.
struct ModelSocket {
    id: SocketId,
    dialect: Dialect,
    /// Bytes in its outgoing queue.
    queued: usize,
    /// The message being written to it: kind, declared length, bytes so far.
    open: Option<(MessageKind, Option<u64>, Vec<u8>)>,
    /// Messages it received whole.
    got: Vec<Vec<u8>>,
    /// Closed or destroyed by the session.
    gone: bool,
}

impl Socket for ModelSocket {
    fn id(&self) -> SocketId {
        self.id
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn request(&self) -> Option<&Request> {
        None
    }
    fn protocol(&self) -> Option<&str> {
        None
    }
    fn dialect(&self) -> Option<Dialect> {
        Some(self.dialect)
    }
    fn ready_state(&self) -> ReadyState {
        if self.gone {
            ReadyState::Closed
        } else {
            ReadyState::Open
        }
    }
    fn buffered_amount(&self) -> usize {
        self.queued
    }
    fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_binary(text.as_bytes())
    }
    fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.begin_message(MessageKind::Binary, Some(data.len() as u64))?;
        self.send_chunk(data)?;
        self.end_message()
    }
    fn begin_message(&mut self, kind: MessageKind, len: Option<u64>) -> Result<(), SendError> {
        if self.gone {
            return Err(SendError::NotOpen);
        }
        assert!(
            self.open.is_none(),
            "{}: a message begun inside another",
            self.id
        );
        self.open = Some((kind, len, Vec::new()));
        Ok(())
    }
    fn send_chunk(&mut self, data: &[u8]) -> Result<(), SendError> {
        if self.gone {
            return Err(SendError::NotOpen);
        }
        let (_, len, bytes) = self.open.as_mut().expect("a chunk with no message open");
        bytes.extend_from_slice(data);
        if let Some(len) = len {
            assert!(
                bytes.len() as u64 <= *len,
                "{}: more than declared",
                self.id
            );
        }
        self.queued += data.len();
        Ok(())
    }
    fn end_message(&mut self) -> Result<(), SendError> {
        if self.gone {
            return Err(SendError::NotOpen);
        }
        let (_, len, bytes) = self.open.take().expect("an end with no message open");
        if let Some(len) = len {
            assert_eq!(bytes.len() as u64, len, "{}: fewer than declared", self.id);
        }
        self.got.push(bytes);
        Ok(())
    }
    fn ping(&mut self, _payload: &[u8]) -> Result<(), SendError> {
        Ok(())
    }
    fn close(&mut self, _code: u16, _reason: &str) -> Result<(), SendError> {
        self.gone = true;
        Ok(())
    }
    fn destroy(&mut self) {
        self.gone = true;
    }
    fn set_hixie_binary(&mut self, _policy: HixieBinary) {}
}

/// The server, as far as a session can tell.
struct ModelHost {
    sockets: Vec<ModelSocket>,
    /// Members that have left (the loop no longer reaches them).
    removed: Vec<bool>,
    paused: Vec<bool>,
    drain_watch: Vec<Option<usize>>,
    timer: Vec<bool>,
    held_gauge: i64,
    over_budget: bool,
}

impl Host for ModelHost {
    fn socket(&mut self, id: SocketId) -> Option<&mut dyn Socket> {
        let i = id.index as usize;
        if self.removed[i] {
            return None;
        }
        Some(&mut self.sockets[i])
    }
    fn pause(&mut self, id: SocketId) {
        self.paused[id.index as usize] = true;
    }
    fn resume(&mut self, id: SocketId) {
        self.paused[id.index as usize] = false;
    }
    fn notify_drain(&mut self, id: SocketId, level: usize) {
        self.drain_watch[id.index as usize] = Some(level);
    }
    fn set_timer(&mut self, id: SocketId, _delay: Duration) {
        self.timer[id.index as usize] = true;
    }
    fn cancel_timer(&mut self, id: SocketId) {
        self.timer[id.index as usize] = false;
    }
    fn held_changed(&mut self, before: usize, after: usize) {
        self.held_gauge += after as i64 - before as i64;
        assert!(self.held_gauge >= 0, "held gauge below zero");
    }
    fn over_memory_budget(&self) -> bool {
        self.over_budget
    }
}

/// What one member is sending.
struct Sending {
    declared: Option<u64>,
    bytes: Vec<u8>,
    /// Bytes sent since its sender was paused.
    after_pause: usize,
}

/// The test bench: the session, the host, and what each member sent.
struct Bench {
    sessions: Sessions,
    host: ModelHost,
    members: usize,
    sending: Vec<Option<Sending>>,
    /// Each member's finished messages, in order.
    sent: Vec<Vec<Vec<u8>>>,
    /// Every finished message by its sequence number: (sender, index in `sent`).
    by_seq: HashMap<u16, (usize, usize)>,
    seq: u16,
    /// Per receiver: how many of its messages have been checked, and the last sequence
    /// number it got from each sender.
    checked: Vec<usize>,
    last_seq: Vec<[Option<u16>; MAX_MEMBERS]>,
}

impl Bench {
    fn new(members: usize) -> Bench {
        let options = SessionOptions {
            ready_notice: None,
            buffer_per_receiver: BUFFER,
            max_held_messages: MAX_HELD,
            ..SessionOptions::default()
        };
        let mut bench = Bench {
            sessions: Sessions::new("/s/", options),
            host: ModelHost {
                sockets: (0..members)
                    .map(|i| ModelSocket {
                        id: id(i),
                        dialect: if i % 2 == 0 {
                            Dialect::Rfc6455
                        } else {
                            Dialect::Hybi07
                        },
                        queued: 0,
                        open: None,
                        got: Vec::new(),
                        gone: false,
                    })
                    .collect(),
                removed: vec![false; members],
                paused: vec![false; members],
                drain_watch: vec![None; members],
                timer: vec![false; members],
                held_gauge: 0,
                over_budget: false,
            },
            members,
            sending: (0..members).map(|_| None).collect(),
            sent: vec![Vec::new(); members],
            by_seq: HashMap::new(),
            seq: 0,
            checked: vec![0; members],
            last_seq: vec![[None; MAX_MEMBERS]; members],
        };
        for i in 0..members {
            let dialect = bench.host.sockets[i].dialect;
            bench
                .sessions
                .join(&mut bench.host, id(i), "fuzz".into(), dialect);
        }
        bench
    }

    fn present(&self, m: usize) -> bool {
        !self.host.removed[m]
    }

    /// Start a message from `m`: its first bytes name it (sender, sequence number), so a
    /// receiver's messages can be matched to what was sent.
    fn start(&mut self, m: usize, kind: MessageKind, declared: Option<u64>) {
        if !self.present(m) || self.sending[m].is_some() || self.host.paused[m] {
            return;
        }
        self.seq = self.seq.wrapping_add(1);
        let [hi, lo] = self.seq.to_be_bytes();
        let declared = declared.map(|extra| 3 + extra);
        self.sending[m] = Some(Sending {
            declared,
            bytes: Vec::new(),
            after_pause: 0,
        });
        self.sessions
            .message_start(&mut self.host, id(m), kind, declared);
        self.data(m, &[b'a' + m as u8, hi, lo], true);
    }

    /// `m` sends `data` of its message (clamped to what it declared, and to what the
    /// loop would still read from it while paused).
    fn data(&mut self, m: usize, data: &[u8], naming: bool) {
        let paused = self.host.paused[m];
        let Some(sending) = self.sending[m].as_mut() else {
            return;
        };
        let room = sending
            .declared
            .map_or(usize::MAX, |d| d as usize - sending.bytes.len());
        let mut n = data.len().min(room);
        if paused && !naming {
            n = n.min(AFTER_PAUSE.saturating_sub(sending.after_pause));
            sending.after_pause += n;
        }
        if n == 0 {
            return;
        }
        sending.bytes.extend_from_slice(&data[..n]);
        self.sessions
            .message_data(&mut self.host, id(m), &data[..n]);
    }

    /// `m` finishes its message, first sending what it declared and has not sent.
    fn end(&mut self, m: usize) {
        let Some(sending) = self.sending[m].as_ref() else {
            return;
        };
        if let Some(declared) = sending.declared {
            let missing = declared as usize - sending.bytes.len();
            if missing > 0 {
                if self.host.paused[m] {
                    return; // the loop would not read the rest now
                }
                self.data(m, &vec![b'z'; missing], false);
            }
        }
        let Some(sending) = self.sending[m].take() else {
            return;
        };
        self.sessions.message_end(&mut self.host, id(m));
        let seq = u16::from_be_bytes([sending.bytes[1], sending.bytes[2]]);
        self.by_seq.insert(seq, (m, self.sent[m].len()));
        self.sent[m].push(sending.bytes);
    }

    /// Receiver `m`'s socket writes `n` bytes; a watched level reached reports the drain.
    fn drain(&mut self, m: usize, n: usize) {
        if !self.present(m) {
            return;
        }
        let socket = &mut self.host.sockets[m];
        socket.queued = socket.queued.saturating_sub(n);
        if let Some(level) = self.host.drain_watch[m] {
            if socket.queued <= level {
                self.host.drain_watch[m] = None;
                self.sessions.drained(&mut self.host, id(m));
            }
        }
    }

    fn fire_timer(&mut self, m: usize) {
        if self.present(m) && std::mem::take(&mut self.host.timer[m]) {
            self.sessions.timer(&mut self.host, id(m));
        }
    }

    /// `m` disconnects.
    fn leave(&mut self, m: usize) {
        if !self.present(m) {
            return;
        }
        self.host.sockets[m].gone = true;
        self.settle();
    }

    /// Members the session closed or destroyed leave, as the loop would report.
    fn settle(&mut self) {
        for m in 0..self.members {
            if self.host.sockets[m].gone && !self.host.removed[m] {
                self.host.removed[m] = true;
                self.sending[m] = None;
                self.sessions.closed(&mut self.host, id(m));
            }
        }
    }

    /// The rules that hold after every step.
    fn check(&mut self) {
        let senders = self.members;
        for m in 0..self.members {
            let Some((cost, count)) = self.sessions.held_by(id(m)) else {
                continue;
            };
            let slack = senders * (ENTRY_COST + AFTER_PAUSE + MAX_CHUNK + 3);
            assert!(
                cost <= 2 * (BUFFER + slack),
                "receiver {m} holds {cost} bytes"
            );
            assert!(
                count <= MAX_HELD + senders,
                "receiver {m} holds {count} messages"
            );
        }
        // Only what arrived since the last check: the whole history each step would make
        // a long input quadratic.
        for (r, socket) in self.host.sockets.iter().enumerate() {
            for message in &socket.got[self.checked[r]..] {
                let sender = usize::from(message[0] - b'a');
                let seq = u16::from_be_bytes([message[1], message[2]]);
                let last = &mut self.last_seq[r][sender];
                assert!(last.is_none_or(|last| last < seq), "out of order");
                *last = Some(seq);
                let sent = self.by_seq.get(&seq).map(|&(s, i)| &self.sent[s][i]);
                assert!(
                    sent == Some(message),
                    "{} got a message {sender} did not send",
                    socket.id
                );
            }
            self.checked[r] = socket.got.len();
        }
    }

    /// Every sender finishes, every queue drains: everyone still there has everything.
    fn finish(&mut self) {
        self.host.over_budget = false;
        for _ in 0..4 * MAX_STEPS {
            let mut moved = false;
            for m in 0..self.members {
                if self.present(m) && self.sending[m].is_some() && !self.host.paused[m] {
                    self.end(m);
                    moved = true;
                }
                if self.present(m) && self.host.sockets[m].queued > 0 {
                    self.drain(m, usize::MAX);
                    moved = true;
                }
                self.settle();
            }
            if !moved {
                break;
            }
        }
        self.check();
        for r in (0..self.members).filter(|&r| self.present(r)) {
            for s in (0..self.members).filter(|&s| s != r) {
                let got = self.host.sockets[r]
                    .got
                    .iter()
                    .filter(|m| usize::from(m[0] - b'a') == s)
                    .count();
                assert_eq!(got, self.sent[s].len(), "{r} got {got} of {s}'s messages");
            }
        }
        let held: usize = (0..self.members)
            .filter_map(|m| self.sessions.held_by(id(m)))
            .map(|(cost, _)| cost)
            .sum();
        assert_eq!(held, 0, "held after everything was delivered");
        for m in 0..self.members {
            self.leave(m);
        }
        assert_eq!(self.host.held_gauge, 0, "gauge after everyone left");
    }
}

/// Run the session through the steps `input` spells; panics if a rule breaks.
pub fn session_interleavings(input: &[u8]) {
    let Some((&first, mut input)) = input.split_first() else {
        return;
    };
    let members = 2 + usize::from(first) % (MAX_MEMBERS - 1);
    let mut bench = Bench::new(members);
    let mut steps = 0;
    while let [op, arg, rest @ ..] = input {
        input = rest;
        steps += 1;
        if steps > MAX_STEPS {
            break;
        }
        let m = usize::from(*arg) % members;
        let size = usize::from(*arg / 8);
        match op % 8 {
            0 => bench.start(m, MessageKind::Binary, Some(size as u64)),
            1 => bench.start(m, MessageKind::Text, None),
            2 | 3 => bench.data(m, &[b'd'; MAX_CHUNK][..size.min(MAX_CHUNK)], false),
            4 => bench.end(m),
            5 => bench.drain(m, size * 64),
            6 => bench.fire_timer(m),
            _ if arg % 2 == 0 => bench.host.over_budget = !bench.host.over_budget,
            _ => bench.leave(m),
        }
        bench.settle();
        bench.check();
    }
    bench.finish();
}

#[cfg(test)]
mod tests {
    use super::session_interleavings;

    /// Deterministic pseudo-random inputs, so `cargo test` covers what the fuzzer does.
    #[test]
    fn random_interleavings_keep_the_rules() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..300 {
            let input: Vec<u8> = (0..len * 7)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            session_interleavings(&input);
        }
    }

    #[test]
    fn a_flood_of_empty_messages_for_a_busy_receiver_stays_bounded() {
        // Member 0 opens a message; member 1 then starts and ends empty messages.
        let mut input = vec![1u8, 1, 0];
        for _ in 0..2000 {
            input.extend_from_slice(&[0, 1, 4, 1]);
        }
        session_interleavings(&input);
    }
}
