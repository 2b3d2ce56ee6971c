//! Deterministic JSON-like messages for the compression benchmark (`scripts/bench-deflate.sh`),
//! shared by `examples/loadgen.rs` (`--json`) and `examples/idle_conns.rs` (`--send-first`).
//!
//! What permessage-deflate makes of a message depends on what is in it: all-identical bytes
//! shrink to almost nothing, random bytes not at all. These messages look like what a
//! trading or chat back end pushes: the same keys in every message, numbers and identifiers
//! that change, names and symbols drawn from short lists, a trailing free-text field. The
//! first bytes are always `{"seq":"` and 16 hex digits, the message's sequence number, so an
//! echo can be checked against the message it answers.
//!
//! A pool of [`POOL`] distinct documents is made once (a fixed xorshift seed, so every run
//! and every process makes the same ones); message `seq` of stream `stream` is document
//! `(stream * 7 + seq) % POOL` with its sequence number written in. The pool (256 documents
//! of 1 KiB) is far larger than deflate's 32 KiB window, so a compressor that keeps its
//! context sees the last 31 or so messages of its stream, all different documents of the same
//! shape, never an earlier copy of the same one.

/// Documents in the pool.
pub const POOL: usize = 256;
/// Where the 16 hex digits of the sequence number start.
const SEQ_AT: usize = 8;
/// Hex digits of the sequence number.
const SEQ_DIGITS: usize = 16;
/// The smallest document the shape fits in.
pub const MIN_SIZE: usize = 512;

const FIRST: [&str; 16] = [
    "Mara", "Jonas", "Aiko", "Ravi", "Lena", "Tomasz", "Ines", "Kwame", "Sofia", "Hugo", "Yara",
    "Mateo", "Noor", "Elias", "Chloe", "Arjun",
];
const LAST: [&str; 16] = [
    "Lindqvist",
    "Okafor",
    "Tanaka",
    "Sharma",
    "Moreau",
    "Kowalski",
    "Silva",
    "Mensah",
    "Rossi",
    "Becker",
    "Haddad",
    "Garcia",
    "Khan",
    "Nielsen",
    "Dubois",
    "Patel",
];
const SYMBOLS: [&str; 12] = [
    "BTC-EUR", "ETH-EUR", "BTC-USD", "ETH-USD", "SOL-USD", "ADA-EUR", "XRP-USD", "DOT-EUR", "AAPL",
    "MSFT", "NVDA", "TSLA",
];
const STATUS: [&str; 5] = ["open", "partially_filled", "filled", "cancelled", "pending"];
const TIERS: [&str; 4] = ["basic", "plus", "pro", "institutional"];
const ROLES: [&str; 5] = ["trader", "viewer", "admin", "auditor", "support"];
const REGIONS: [&str; 6] = [
    "eu-west-1",
    "eu-central-1",
    "us-east-1",
    "us-west-2",
    "ap-south-1",
    "ap-northeast-1",
];
const TIF: [&str; 3] = ["GTC", "IOC", "FOK"];
const WORDS: [&str; 32] = [
    "order",
    "filled",
    "at",
    "the",
    "best",
    "price",
    "available",
    "after",
    "routing",
    "via",
    "primary",
    "venue",
    "client",
    "requested",
    "update",
    "of",
    "remaining",
    "quantity",
    "risk",
    "check",
    "passed",
    "margin",
    "account",
    "limit",
    "settlement",
    "pending",
    "confirmation",
    "from",
    "clearing",
    "house",
    "and",
    "desk",
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }
}

/// The pool of documents, each exactly `size` bytes of ASCII JSON.
pub struct JsonMessages {
    docs: Vec<Vec<u8>>,
}

impl JsonMessages {
    /// The pool for messages of `size` bytes (at least [`MIN_SIZE`]).
    pub fn new(size: usize) -> Result<JsonMessages, String> {
        if size < MIN_SIZE {
            return Err(format!(
                "JSON messages need at least {MIN_SIZE} bytes, not {size}"
            ));
        }
        let docs = (0..POOL).map(|i| document(i as u64, size)).collect();
        Ok(JsonMessages { docs })
    }

    /// Message `seq` of stream `stream`, written over `out`.
    pub fn message(&self, stream: usize, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(self.doc(stream, seq));
        out[SEQ_AT..SEQ_AT + SEQ_DIGITS].copy_from_slice(&hex(seq));
    }

    /// Whether `got` is message `seq` of stream `stream`.
    pub fn matches(&self, stream: usize, seq: u64, got: &[u8]) -> bool {
        let doc = self.doc(stream, seq);
        let end = SEQ_AT + SEQ_DIGITS;
        got.len() == doc.len()
            && got[..SEQ_AT] == doc[..SEQ_AT]
            && got[SEQ_AT..end] == hex(seq)
            && got[end..] == doc[end..]
    }

    fn doc(&self, stream: usize, seq: u64) -> &[u8] {
        let index = (stream as u64).wrapping_mul(7).wrapping_add(seq) % POOL as u64;
        &self.docs[index as usize]
    }
}

fn hex(seq: u64) -> [u8; SEQ_DIGITS] {
    let mut digits = [0u8; SEQ_DIGITS];
    for (i, d) in digits.iter_mut().enumerate() {
        let nibble = (seq >> (4 * (SEQ_DIGITS - 1 - i))) & 0xf;
        *d = b"0123456789abcdef"[nibble as usize];
    }
    digits
}

/// Document `index`: exactly `size` bytes (`size >= MIN_SIZE`).
fn document(index: u64, size: usize) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    for _ in 0..4 {
        rng.next();
    }
    let (first, last) = (rng.pick(&FIRST), rng.pick(&LAST));
    let price = 100 + rng.below(60_000);
    let mut doc = format!(
        "{{\"seq\":\"{}\",\"type\":\"order.update\",\"id\":\"ord_{:08x}\",\"ts\":{},\
         \"user\":{{\"id\":{},\"name\":\"{first} {last}\",\"email\":\"{}.{}@example.com\",\
         \"tier\":\"{}\",\"roles\":[\"{}\",\"{}\"]}},\
         \"order\":{{\"symbol\":\"{}\",\"side\":\"{}\",\"price\":{price}.{:02},\"qty\":{}.{:04},\
         \"filled\":{}.{:04},\"status\":\"{}\",\"tif\":\"{}\"}},\"book\":[",
        "0".repeat(SEQ_DIGITS),
        rng.next() as u32,
        1_733_400_000_000 + index * 137 + rng.below(137),
        10_000 + rng.below(90_000),
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase(),
        rng.pick(&TIERS),
        rng.pick(&ROLES),
        rng.pick(&ROLES),
        rng.pick(&SYMBOLS),
        if rng.below(2) == 0 { "buy" } else { "sell" },
        rng.below(100),
        rng.below(20),
        rng.below(10_000),
        rng.below(20),
        rng.below(10_000),
        rng.pick(&STATUS),
        rng.pick(&TIF),
    );
    let meta = format!(
        "],\"meta\":{{\"region\":\"{}\",\"client\":\"web/{}.{}.{}\",\"trace\":\"{:016x}{:016x}\"}},\
         \"note\":\"",
        rng.pick(&REGIONS),
        1 + rng.below(6),
        rng.below(20),
        rng.below(10),
        rng.next(),
        rng.next(),
    );
    let end = "\"}";
    // Order-book levels around the price while they fit, leaving room for a short note.
    let mut level = 0;
    loop {
        let entry = format!(
            "{}{{\"p\":{}.{:02},\"q\":{}.{:04},\"n\":{}}}",
            if level == 0 { "" } else { "," },
            price + level,
            rng.below(100),
            rng.below(50),
            rng.below(10_000),
            1 + rng.below(30),
        );
        if doc.len() + entry.len() + meta.len() + end.len() + 48 > size {
            break;
        }
        doc.push_str(&entry);
        level += 1;
    }
    doc.push_str(&meta);
    // The note: words until the document is `size` bytes, the last one cut to fit.
    let room = size - doc.len() - end.len();
    let mut note = String::with_capacity(room + 16);
    while note.len() < room {
        if !note.is_empty() {
            note.push(' ');
        }
        note.push_str(rng.pick(&WORDS));
    }
    note.truncate(room);
    doc.push_str(&note);
    doc.push_str(end);
    debug_assert_eq!(doc.len(), size);
    doc.into_bytes()
}
