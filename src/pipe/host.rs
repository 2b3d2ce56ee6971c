//! What a session needs from the server it runs in: its members' sockets, pausing and
//! resuming them, drain notices, timers and the memory budget. The loop's [`Cx`] is the
//! host; tests and the fuzzer drive sessions through a model of it.

use crate::cx::Cx;
use crate::socket::{Socket, SocketId};
use std::time::Duration;

pub(crate) trait Host {
    /// The member's socket, if it is still connected.
    fn socket(&mut self, id: SocketId) -> Option<&mut dyn Socket>;
    /// Stop reading from the member (see [`Cx::pause`]).
    fn pause(&mut self, id: SocketId);
    /// Read from the member again.
    fn resume(&mut self, id: SocketId);
    /// Report when the member's outgoing queue holds at most `level` bytes.
    fn notify_drain(&mut self, id: SocketId, level: usize);
    /// Call back after `delay` (one timer per member).
    fn set_timer(&mut self, id: SocketId, delay: Duration);
    fn cancel_timer(&mut self, id: SocketId);
    /// The session's held messages went from costing `before` to `after` bytes.
    fn held_changed(&mut self, before: usize, after: usize);
    /// Whether the server holds more than its memory budget allows.
    fn over_memory_budget(&self) -> bool;
}

impl Host for Cx<'_> {
    fn socket(&mut self, id: SocketId) -> Option<&mut dyn Socket> {
        Cx::socket(self, id)
    }
    fn pause(&mut self, id: SocketId) {
        Cx::pause(self, id)
    }
    fn resume(&mut self, id: SocketId) {
        Cx::resume(self, id)
    }
    fn notify_drain(&mut self, id: SocketId, level: usize) {
        Cx::notify_drain(self, id, level)
    }
    fn set_timer(&mut self, id: SocketId, delay: Duration) {
        Cx::set_timer(self, id, delay)
    }
    fn cancel_timer(&mut self, id: SocketId) {
        Cx::cancel_timer(self, id)
    }
    fn held_changed(&mut self, before: usize, after: usize) {
        Cx::held_changed(self, before, after)
    }
    fn over_memory_budget(&self) -> bool {
        Cx::over_memory_budget(self)
    }
}
