//! The vhost library wrapper against a real virtio-user peer: a `dpdk-testpmd` process with
//! `net_virtio_user` on our socket (its own file prefix), looping every frame back. The
//! attach, queue and detach events arrive; frames enqueued into the guest come back out of it
//! byte for byte; every mbuf returns to the pool.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dpdk_wrap::{Eal, MbufBatch, Mempool, VhostDevice, VhostEvents, VhostSocket};

#[path = "../../tests/common/testpmd.rs"]
#[allow(dead_code)] // shared with the switch's tests, which use more of it
mod testpmd;

/// Virtqueue into the guest (its rx) and out of it (its tx), of queue pair 0.
const TO_GUEST: u16 = 0;
const FROM_GUEST: u16 = 1;
const FRAMES: usize = 100;

#[derive(Default)]
struct Recorder {
    device: Mutex<Option<VhostDevice>>,
    enabled: Mutex<Vec<u16>>,
    detached: Mutex<bool>,
}

impl VhostEvents for Recorder {
    fn attached(&self, device: VhostDevice) {
        *self.device.lock().unwrap() = Some(device);
    }
    fn detached(&self, _device: VhostDevice) {
        *self.device.lock().unwrap() = None;
        *self.detached.lock().unwrap() = true;
    }
    fn queue_state(&self, _device: VhostDevice, queue: u16, enabled: bool) {
        let mut queues = self.enabled.lock().unwrap();
        queues.retain(|q| *q != queue);
        if enabled {
            queues.push(queue);
        }
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_virtio_user_peer_attaches_loops_frames_back_and_detaches() {
    let eal = Eal::init(&[
        "-l",
        "0",
        "--no-pci",
        "--in-memory",
        "--file-prefix",
        &format!("vhost-test-{}", std::process::id()),
        "--log-level",
        "*:warning",
    ])
    .expect("EAL init");
    let pool = Mempool::new(&eal, "vhost_pool", 1023, 0).expect("pool");
    let path = std::env::temp_dir().join(format!("ipvsw-vhost-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let socket_path = path.to_str().unwrap();
    let recorder = Arc::new(Recorder::default());
    let socket = VhostSocket::register(&eal, socket_path, false, false, recorder.clone()).expect("register");
    assert!(path.exists(), "server mode creates the socket");

    let mut guest = testpmd::Guest::start(socket_path, false, 1, "io", "vhost-peer");
    wait_for("the guest's device", || recorder.device.lock().unwrap().is_some());
    wait_for("both virtqueues enabled", || {
        let queues = recorder.enabled.lock().unwrap();
        queues.contains(&TO_GUEST) && queues.contains(&FROM_GUEST)
    });
    let device = recorder.device.lock().unwrap().unwrap();

    // Frames to the guest, numbered; testpmd sends each back unchanged.
    let frames: Vec<Vec<u8>> = (0..FRAMES)
        .map(|i| {
            let mut frame = vec![0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x99, 0x88, 0xb5];
            frame.extend_from_slice(&(i as u32).to_be_bytes());
            frame.resize(64, 0xa5);
            frame
        })
        .collect();
    let mut back = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0;
    let mut batch = MbufBatch::new();
    while back.len() < FRAMES {
        assert!(
            Instant::now() < deadline,
            "{} of {FRAMES} frames came back",
            back.len()
        );
        if sent < FRAMES && batch.is_empty() {
            for frame in &frames[sent..(sent + 8).min(FRAMES)] {
                let mut m = pool.alloc().unwrap();
                m.append(frame).unwrap();
                assert!(batch.push(m).is_ok());
            }
        }
        // What the guest's ring did not take stays in the batch, for the next try.
        let before = batch.len();
        sent += device.enqueue(TO_GUEST, &mut batch);
        assert!(batch.len() <= before);
        let mut received = MbufBatch::new();
        device.dequeue(FROM_GUEST, &pool, &mut received);
        back.extend(received.drain().map(|m| m.to_vec()));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(back, frames);

    // The guest goes: the device is detached.
    guest.stop();
    wait_for("the detach event", || *recorder.detached.lock().unwrap());
    drop(socket);
    assert!(!path.exists(), "unregistering removes the socket");
    assert_eq!(pool.in_use(), 0, "mbufs leaked");
}
