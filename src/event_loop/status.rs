//! Status snapshots, taken on the loop thread: the census, every live connection, and what
//! each mount's handler reports of its groups.

use super::EventLoop;
use crate::status::{snapshot, Disclosure, Live, MemberStatus, Report, Status};

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
                        dialect: conn.codec.as_ref().map(|c| c.dialect()),
                        secure: conn.tls.is_some(),
                        bytes_in: conn.bytes_in,
                        bytes_out: conn.bytes_out,
                        queued: conn.out.len(),
                        paused: conn.paused_by_app || conn.over_high_water,
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
            self.shared.stats.snapshot(),
            &endpoints,
            water_marks,
            &live,
            report,
            disclosure,
        )
    }
}
