//! The simulated link between the two hosts: a one-way delay, a serialisation delay from the
//! bandwidth, and seeded random loss, per direction. Frames in one direction arrive in the
//! order they were sent.

use std::collections::VecDeque;

use sockops_ctx::Prng;

use crate::net::sim::format::LinkPlan;

/// A direction on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// Frames in flight both ways.
#[derive(Debug)]
pub struct Link {
    plan: LinkPlan,
    rng: Prng,
    queues: [VecDeque<(u64, Vec<u8>)>; 2],
    busy_until_us: [u64; 2],
    /// Frames dropped, per direction (to server, to client).
    pub dropped: [u64; 2],
}

impl Link {
    /// A link as `plan` says, its losses drawn from `seed`.
    pub fn new(plan: LinkPlan, seed: u64) -> Link {
        Link {
            plan,
            rng: Prng::new(seed),
            queues: [VecDeque::new(), VecDeque::new()],
            busy_until_us: [0; 2],
            dropped: [0; 2],
        }
    }

    /// Sends `frame` at `now_us`: dropped with the loss probability, else queued to arrive
    /// after the serialisation and propagation delays.
    pub fn send(&mut self, dir: Direction, frame: Vec<u8>, now_us: u64) {
        let d = dir.index();
        if self.plan.loss > 0.0 {
            let draw = f64::from(self.rng.next_u32()) / 4_294_967_296.0;
            if draw < self.plan.loss {
                self.dropped[d] += 1;
                return;
            }
        }
        let mut depart = now_us;
        if self.plan.bandwidth_bps > 0 {
            let bits = frame.len() as u64 * 8;
            let serialise = (bits * 1_000_000).div_ceil(self.plan.bandwidth_bps);
            depart = now_us.max(self.busy_until_us[d]) + serialise;
            self.busy_until_us[d] = depart;
        }
        let arrive = depart + self.plan.latency_us;
        // Keep arrivals in order even if a later frame would be faster (no reordering).
        let arrive = self.queues[d]
            .back()
            .map_or(arrive, |(t, _)| arrive.max(*t));
        self.queues[d].push_back((arrive, frame));
    }

    /// The next frame due at or before `now_us` in direction `dir`.
    pub fn pop_due(&mut self, dir: Direction, now_us: u64) -> Option<Vec<u8>> {
        let q = &mut self.queues[dir.index()];
        if q.front().is_some_and(|(t, _)| *t <= now_us) {
            q.pop_front().map(|(_, f)| f)
        } else {
            None
        }
    }

    /// When the next frame arrives, either way.
    pub fn next_arrival(&self) -> Option<u64> {
        self.queues
            .iter()
            .filter_map(|q| q.front().map(|(t, _)| *t))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(loss: f64, bandwidth_bps: u64) -> LinkPlan {
        LinkPlan {
            latency_us: 5000,
            loss,
            bandwidth_bps,
            mtu: 1500,
        }
    }

    #[test]
    fn delays_serialises_and_drops() {
        let mut l = Link::new(plan(0.0, 8_000_000), 1);
        l.send(Direction::ToServer, vec![0; 1000], 0);
        l.send(Direction::ToServer, vec![0; 1000], 0);
        assert_eq!(l.next_arrival(), Some(6000));
        assert!(l.pop_due(Direction::ToServer, 5999).is_none());
        assert!(l.pop_due(Direction::ToServer, 6000).is_some());
        assert!(l.pop_due(Direction::ToServer, 6000).is_none());
        assert_eq!(l.next_arrival(), Some(7000));
        let mut all = Link::new(plan(1.0, 0), 1);
        all.send(Direction::ToClient, vec![0; 10], 0);
        assert_eq!((all.dropped, all.next_arrival()), ([0, 1], None));
        let mut some = Link::new(plan(0.5, 0), 7);
        for _ in 0..1000 {
            some.send(Direction::ToClient, vec![0; 10], 0);
        }
        assert!((400..600).contains(&some.dropped[1]), "{:?}", some.dropped);
    }
}
