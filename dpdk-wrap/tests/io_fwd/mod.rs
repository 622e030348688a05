//! A testpmd-style io forwarder (port a <-> port b) on a worker lcore, shared by the forward
//! test and the fwd benchmark example.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dpdk_wrap::{Eal, EthPort, LcoreJob, MbufBatch, Mempool, PortSetup};

/// Starts both ports and forwards between them on the first worker lcore until `stop` is set.
pub fn launch(eal: &Eal, a: &EthPort, b: &EthPort, pool: &Mempool, stop: Arc<AtomicBool>) -> LcoreJob {
    let (mut a_rx, mut a_tx) = a.start(&PortSetup::default(), pool).expect("start port a");
    let (mut b_rx, mut b_tx) = b.start(&PortSetup::default(), pool).expect("start port b");
    let (mut a_rx, mut a_tx, mut b_rx, mut b_tx) =
        (a_rx.remove(0), a_tx.remove(0), b_rx.remove(0), b_tx.remove(0));
    eal.launch(eal.worker_lcores()[0], move || {
        let mut batch = MbufBatch::new();
        while !stop.load(Ordering::Relaxed) {
            for (rx, tx) in [(&mut a_rx, &mut b_tx), (&mut b_rx, &mut a_tx)] {
                if rx.recv(&mut batch) > 0 {
                    tx.send(&mut batch);
                    batch.free_all();
                }
            }
        }
    })
    .expect("launch the forwarder")
}
