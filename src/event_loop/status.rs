//! Status snapshots, taken on the loop thread: the census, every live connection, and what
//! each mount's handler reports of its groups. With several loops, the loop that serves a
//! status page asks the others for theirs without waiting for them: the page is answered
//! when the last part arrives.

use super::EventLoop;
use crate::face::{self, Page};
use crate::handle::Command;
use crate::socket::SocketId;
use crate::status::{snapshot, Disclosure, Live, MemberStatus, Report, Status};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::Arc;

/// A status page waiting for the other loops' parts.
pub(super) struct PendingPage {
    id: SocketId,
    page: Page,
    head_only: bool,
    /// This loop's snapshot, with every part merged in so far.
    status: Option<Status>,
    parts: Receiver<Status>,
    waiting: usize,
}

impl EventLoop {
    pub(super) fn status(&mut self, disclosure: Disclosure) -> Status {
        let live: Vec<Live> = self
            .conns
            .ids()
            .into_iter()
            .filter_map(|id| {
                let conn = self.conns.get(id)?;
                Some(Live {
                    route: conn.route,
                    member: MemberStatus {
                        id,
                        loop_index: self.index,
                        dialect: conn.codec.as_ref().map(|c| c.dialect()),
                        secure: conn.tls.is_some(),
                        bytes_in: conn.bytes_in,
                        bytes_out: conn.bytes_out,
                        queued: conn.out.len(),
                        paused: conn.paused_by_app || conn.over_high_water,
                        node: None,
                    },
                })
            })
            .collect();
        let mut report = Report::default();
        for mount in &self.mounts {
            mount.handler.report(&mut report);
        }
        let endpoints: Vec<String> = self.mounts.iter().map(|m| m.pattern()).collect();
        let water_marks = (
            self.settings.write_high_water,
            self.settings.write_low_water,
        );
        snapshot(
            &self.census,
            self.index,
            self.shared.stats.snapshot(),
            &endpoints,
            water_marks,
            &live,
            report,
            disclosure,
        )
    }

    /// Answer a status page with this loop's snapshot and, where the server has other
    /// loops, theirs.
    pub(super) fn gather_status(
        &mut self,
        id: SocketId,
        page: Page,
        disclosure: Disclosure,
        head_only: bool,
    ) {
        let status = self.status(disclosure.clone());
        let (reply, parts) = sync_channel(self.links.len());
        let here = Arc::clone(&self.links[self.index].waker);
        let mut waiting = 0;
        for (i, link) in self.links.iter().enumerate() {
            let command = Command::Status {
                disclosure: disclosure.clone(),
                reply: reply.clone(),
                wake: Some(Arc::clone(&here)),
            };
            if i != self.index && link.alive() && link.send(command).is_ok() {
                waiting += 1;
            }
        }
        if let Some(conn) = self.conns.get_mut(id) {
            // Answered once the parts are in: nothing more is read from it meanwhile.
            conn.phase = crate::conn::Phase::Failing;
        }
        self.pending_pages.push(PendingPage {
            id,
            page,
            head_only,
            status: Some(status),
            parts,
            waiting,
        });
        self.finish_pages();
    }

    /// Answer the status pages whose parts have all arrived (or whose loops are gone).
    pub(super) fn finish_pages(&mut self) {
        let mut i = 0;
        while i < self.pending_pages.len() {
            let pending = &mut self.pending_pages[i];
            while pending.waiting > 0 {
                match pending.parts.try_recv() {
                    Ok(part) => {
                        pending.status = pending.status.take().map(|s| s.merge(part));
                        pending.waiting -= 1;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => pending.waiting = 0,
                }
            }
            // A page whose connection is gone (its handshake timer ends it if a loop died
            // without answering) is dropped with it.
            let gone = self.conns.get(pending.id).is_none();
            if pending.waiting > 0 && !gone {
                i += 1;
                continue;
            }
            let done = self.pending_pages.swap_remove(i);
            if gone {
                continue;
            }
            let response = face::render(&done.page, done.status.as_ref());
            log::info!("{}: status page -> {}", done.id, response.status);
            self.answer_plain(done.id, &response, done.head_only);
        }
        self.service_touched();
    }
}
