//! How many of the bytes written to a TCP socket its peer has not acknowledged yet.
//!
//! The keepalive needs it once our ping has left our own queue: the ping may still wait in
//! the kernel's send buffer behind megabytes a slow reader has yet to take (a set-top box on
//! a thin link), and that reader cannot answer a ping it has not reached. Bytes we wrote minus
//! bytes not acknowledged is what the peer's TCP has accepted; while that grows, the peer is
//! reading, however slowly. A dead or silent peer acknowledges nothing.

use mio::net::TcpStream;

/// Bytes written to `stream` that its peer's TCP has not acknowledged (still in our send
/// buffer or in flight), or `None` where the system cannot tell.
#[cfg(target_os = "linux")]
pub(crate) fn unacknowledged(stream: &TcpStream) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut bytes: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (= TIOCOUTQ) on a TCP socket stores one int through the pointer, which
    // points at a live `c_int`; the descriptor stays open while `stream` is borrowed.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut bytes) };
    (rc == 0).then(|| u64::try_from(bytes).ok()).flatten()
}

/// Bytes written to `stream` that its peer has not acknowledged: unknown on this system.
#[cfg(not(target_os = "linux"))]
pub(crate) fn unacknowledged(_stream: &TcpStream) -> Option<u64> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn counts_what_the_peer_has_not_taken_and_falls_to_zero_once_it_reads() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut server = TcpStream::from_std(server);
        assert_eq!(unacknowledged(&server), Some(0));
        // Fill both sides' buffers: the reader reads nothing, so the window closes and
        // bytes stay unacknowledged in our send buffer.
        let block = vec![7u8; 64 << 10];
        let mut written = 0u64;
        loop {
            match server.write(&block) {
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let stuck = unacknowledged(&server).unwrap();
        assert!(stuck > 0 && stuck <= written, "{stuck} of {written}");
        // Once the peer has read everything, everything has been acknowledged.
        let mut client = client;
        let mut sink = vec![0u8; 1 << 20];
        let mut read = 0u64;
        while read < written {
            read += client.read(&mut sink).unwrap() as u64;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while unacknowledged(&server) != Some(0) {
            assert!(std::time::Instant::now() < deadline, "acknowledged in time");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
