//! The outgoing byte queue of one connection.

use std::io::{self, IoSlice, Write};

/// Bytes waiting to be written, in order. Bounded by the caller (`Settings::max_write_buffer`);
/// memory is returned once the queue empties.
#[derive(Default)]
pub(crate) struct WriteQueue {
    buf: Vec<u8>,
    head: usize,
}

/// Above this much written-but-not-yet-discarded prefix, compact the buffer.
const COMPACT_AT: usize = 64 << 10;

impl WriteQueue {
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Append `bytes` and return them in place (for masking).
    pub(crate) fn extend_mut(&mut self, bytes: &[u8]) -> &mut [u8] {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        &mut self.buf[start..]
    }

    /// The bytes waiting, oldest first.
    pub(crate) fn front(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// Drop the first `n` waiting bytes (taken by a layer below, such as TLS).
    pub(crate) fn consume(&mut self, n: usize) {
        self.head += n.min(self.len());
        self.settle();
    }

    /// After bytes were taken from the front: reset an emptied queue, compact a long-taken
    /// prefix.
    fn settle(&mut self) {
        if self.head == self.buf.len() {
            // Keep the capacity: a busy connection refills it at once, and regrowing it
            // through several reallocations per burst was measured to cost (4 % of the
            // server's CPU per 20-byte echo when small buffers were freed here). Idle
            // connections give it back on timer ticks (`trim`).
            self.buf.clear();
            self.head = 0;
        } else if self.head > COMPACT_AT && self.head > self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    pub(crate) fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Give back the memory of an empty queue (called on timer ticks and once the opening
    /// handshake's answer is written, so an idle connection holds no buffer).
    pub(crate) fn trim(&mut self) {
        if self.is_empty() && self.buf.capacity() > 0 {
            self.buf = Vec::new();
            self.head = 0;
        }
    }

    /// Write what is queued, then `bytes`, in one call, as far as the writer takes them.
    /// Returns the bytes written in all and how many of them were from `bytes` (none unless
    /// the whole queue went first); the caller queues the rest of `bytes`.
    pub(crate) fn write_through(
        &mut self,
        w: &mut impl Write,
        bytes: &[u8],
    ) -> io::Result<(usize, usize)> {
        let queued = self.len();
        let n = w.write_vectored(&[IoSlice::new(&self.buf[self.head..]), IoSlice::new(bytes)])?;
        if n >= queued {
            self.buf.clear();
            self.head = 0;
            Ok((n, n - queued))
        } else {
            self.head += n;
            Ok((n, 0))
        }
    }

    /// Write until the queue is empty or the writer would block. Returns bytes written.
    pub(crate) fn write_to(&mut self, w: &mut impl Write) -> io::Result<usize> {
        let mut written = 0;
        while self.head < self.buf.len() {
            match w.write(&self.buf[self.head..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.head += n;
                    written += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.settle();
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts at most `room` bytes per call, then blocks.
    struct Trickle {
        got: Vec<u8>,
        room: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bytes_come_out_in_order_across_would_block() {
        let mut q = WriteQueue::default();
        let mut w = Trickle {
            got: Vec::new(),
            room: 7,
            calls: 0,
        };
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        q.extend(&data[..100_000]);
        q.write_to(&mut w).unwrap();
        q.extend(&data[100_000..]);
        while !q.is_empty() {
            q.write_to(&mut w).unwrap();
        }
        assert_eq!(w.got, data);
    }

    #[test]
    fn write_through_sends_the_queue_first_and_reports_what_it_took_of_the_new_bytes() {
        let mut q = WriteQueue::default();
        let mut w = Trickle {
            got: Vec::new(),
            room: 7,
            calls: 0,
        };
        let data: Vec<u8> = (0..100u8).collect();
        let mut sent = Vec::new();
        q.extend(&data[..10]);
        // The writer takes 7 bytes a call (one slice at a time) and blocks every third call:
        // the queue's first 7, then its last 3, then nothing, then 7 of the new bytes.
        let (written, taken) = q.write_through(&mut w, &data[10..30]).unwrap();
        assert_eq!((written, taken, q.len()), (7, 0, 3));
        let (written, taken) = q.write_through(&mut w, &data[10..30]).unwrap();
        assert_eq!((written, taken, q.len()), (3, 0, 0));
        let blocked = q.write_through(&mut w, &data[10..30]).unwrap_err();
        assert_eq!(blocked.kind(), io::ErrorKind::WouldBlock);
        let (written, taken) = q.write_through(&mut w, &data[10..30]).unwrap();
        assert_eq!((written, taken, q.len()), (7, 7, 0));
        sent.extend_from_slice(&w.got);
        q.extend(&data[17..30]);
        while !q.is_empty() {
            let _ = q.write_to(&mut w);
        }
        assert_eq!(w.got, data[..30]);
        assert_eq!(sent, data[..17]);
    }
}
