//! The bridge's smoltcp `phy::Device`: raw IP frames in (`push_rx`) and out (`take_tx`). The
//! host feeds it one received frame at a time and inspects everything smoltcp transmitted
//! after each poll, which is how every segment is observed in both directions.

use std::collections::VecDeque;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// A queue-backed IP device with a configurable MTU.
#[derive(Debug)]
pub struct BridgeDevice {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
    mtu: usize,
}

impl BridgeDevice {
    /// A device whose largest IP packet is `mtu` bytes.
    pub fn new(mtu: usize) -> BridgeDevice {
        BridgeDevice {
            rx: VecDeque::new(),
            tx: Vec::new(),
            mtu,
        }
    }

    /// Queues a received frame for the next poll.
    pub fn push_rx(&mut self, frame: Vec<u8>) {
        self.rx.push_back(frame);
    }

    /// The frames smoltcp transmitted since the last call, in order.
    pub fn take_tx(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.tx)
    }
}

impl Device for BridgeDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken { frame }, TxToken { tx: &mut self.tx }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        Some(TxToken { tx: &mut self.tx })
    }
}

/// A received frame handed to smoltcp.
#[derive(Debug)]
pub struct RxToken {
    frame: Vec<u8>,
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.frame)
    }
}

/// A slot for one frame smoltcp transmits.
#[derive(Debug)]
pub struct TxToken<'a> {
    tx: &'a mut Vec<Vec<u8>>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.tx.push(frame);
        r
    }
}
