//! Slaves and addresses added and removed while traffic flows through other slaves: each
//! change takes effect (frames reach a new slave and its new address, and stop reaching what
//! was removed), no frame of the untouched slaves is lost, and no mbuf leaks (a removed
//! slave's rings still hold frames when it goes).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use conf::Config;
use dpdk_wrap::{MbufBatch, Mempool, Ring};

const CONFIG: &str = r#"
[phy]
ring = "phy"
mac = "02:00:00:00:00:01"
[[slave]]
name = "a"
ring = "a"
addresses = ["10.0.0.11/24"]
[[slave]]
name = "b"
ring = "b"
addresses = ["10.0.0.12/24"]
"#;

/// Add/remove cycles; each is four changes.
const CYCLES: usize = 150;
/// Frames the feeder lets be in flight at most (well under a ring's 1023).
const IN_FLIGHT: u64 = 256;
const FROM_FEEDER: &[u8] = b"feeder";
const FROM_NEW_SLAVE: &[u8] = b"new slave";

/// One frame into `ring`, retried until it is taken.
fn put(ring: &Ring, pool: &Mempool, frame: &[u8]) {
    let mut batch = MbufBatch::new();
    let mut m = pool.alloc().expect("mbuf");
    m.append(frame).unwrap();
    assert!(batch.push(m).is_ok());
    while ring.enqueue(&mut batch) == 0 {
        thread::yield_now();
    }
}

/// Every frame waiting in `ring`.
fn take_all(ring: &Ring) -> Vec<Vec<u8>> {
    let mut batch = MbufBatch::new();
    let mut frames = Vec::new();
    while ring.dequeue(&mut batch) > 0 {
        frames.extend(batch.drain().map(|m| m.to_vec()));
    }
    frames
}

#[test]
fn slaves_and_addresses_change_while_other_slaves_lose_nothing() {
    let (eal, mut sw) = start("live-changes", CONFIG);
    let pool = sw.pool().clone();
    let (phy_in, _) = sw.rings("phy").map(|(i, o)| (i.clone(), o.clone())).unwrap();
    let outs: Vec<Ring> = ["a", "b"]
        .iter()
        .map(|s| sw.rings(s).unwrap().1.clone())
        .collect();
    let a_in = sw.rings("a").unwrap().0.clone();

    // The feeder sends from the phy to a and b in turn; the consumer counts what arrives.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, received, from_new) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let feeder = {
        let (stop, sent, received, pool) = (stop.clone(), sent.clone(), received.clone(), pool.clone());
        let frames = [
            udp4(MASTER, OUTSIDE, [192, 0, 2, 1], [10, 0, 0, 11], FROM_FEEDER),
            udp4(MASTER, OUTSIDE, [192, 0, 2, 1], [10, 0, 0, 12], FROM_FEEDER),
        ];
        thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(SeqCst) {
                if n - received.load(SeqCst) >= IN_FLIGHT {
                    thread::yield_now();
                    continue;
                }
                put(&phy_in, &pool, &frames[(n % 2) as usize]);
                n += 1;
                sent.store(n, SeqCst);
            }
        })
    };
    let consumer = {
        let (stop, received, from_new) = (stop.clone(), received.clone(), from_new.clone());
        thread::spawn(move || {
            let mut wrong = Vec::new();
            while !stop.load(SeqCst) {
                for frame in outs.iter().flat_map(take_all) {
                    if frame.ends_with(FROM_FEEDER) {
                        received.fetch_add(1, SeqCst);
                    } else if frame.ends_with(FROM_NEW_SLAVE) {
                        from_new.fetch_add(1, SeqCst);
                    } else {
                        wrong.push(frame);
                    }
                }
            }
            wrong
        })
    };

    let mut changes = 0u32;
    let mut change_time = Duration::ZERO;
    let mut apply = |sw: &mut switch::Switch, config: Config| {
        let began = Instant::now();
        sw.apply(&eal, &config).expect("change applied");
        change_time += began.elapsed();
        changes += 1;
    };
    let mut new_slave_frames = 0u64;
    for cycle in 0..CYCLES {
        let (name, host) = (format!("x{cycle}"), (cycle % 250) as u8 + 1);
        let mut slave = toml::Table::new();
        slave.insert("name".into(), name.clone().into());
        slave.insert("ring".into(), format!("x{cycle}").into());
        slave.insert(
            "addresses".into(),
            vec![toml::Value::from(format!("10.0.2.{host}/24"))].into(),
        );
        let config = sw.config().with_slave(slave).unwrap();
        apply(&mut sw, config);
        let (x_in, x_out) = sw.rings(&name).map(|(i, o)| (i.clone(), o.clone())).unwrap();

        // The new slave sends to a through the switch.
        put(
            &x_in,
            &pool,
            &udp4(MASTER, MASTER, [10, 0, 2, host], [10, 0, 0, 11], FROM_NEW_SLAVE),
        );
        new_slave_frames += 1;

        // Its second address takes frames from a.
        let second = format!("10.0.3.{host}");
        let config = sw.config().with_address(&name, &second).unwrap();
        apply(&mut sw, config);
        let to_second = udp4(
            MASTER,
            MASTER,
            [10, 0, 0, 11],
            [10, 0, 3, host],
            b"to the new address",
        );
        put(&a_in, &pool, &to_second);
        wait_until(
            || x_out.count() == 1,
            || format!("cycle {cycle}: nothing reached {second}"),
        );
        assert_eq!(take_all(&x_out), vec![to_second.clone()]);

        // Left in its ring when it goes (freed with the ring), and one more after the address
        // went, which must reach nobody.
        put(
            &a_in,
            &pool,
            &udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 2, host], b"left behind"),
        );
        wait_until(
            || x_out.count() == 1,
            || format!("cycle {cycle}: nothing reached {name}"),
        );
        let config = sw.config().without_address(&name, &second).unwrap();
        apply(&mut sw, config);
        put(&a_in, &pool, &to_second);
        drop((x_in, x_out));
        let config = sw.config().without_slave(&name).unwrap();
        apply(&mut sw, config);
    }
    // Drain: the feeder stops, the consumer takes what is still on its way.
    let deadline = Instant::now() + Duration::from_secs(10);
    stop.store(true, SeqCst);
    feeder.join().unwrap();
    let sent = sent.load(SeqCst);
    let wrong = consumer.join().unwrap();
    let outs: Vec<Ring> = ["a", "b"]
        .iter()
        .map(|s| sw.rings(s).unwrap().1.clone())
        .collect();
    let mut received_total = received.load(SeqCst);
    let mut from_new_total = from_new.load(SeqCst);
    while received_total < sent || from_new_total < new_slave_frames {
        assert!(Instant::now() < deadline, "frames missing: {received_total} of {sent} from the feeder, {from_new_total} of {new_slave_frames} from new slaves");
        for frame in outs.iter().flat_map(take_all) {
            match frame.ends_with(FROM_FEEDER) {
                true => received_total += 1,
                false => from_new_total += 1,
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    drop(outs);
    assert!(
        wrong.is_empty(),
        "{} unexpected frames reached a or b",
        wrong.len()
    );
    let rate = f64::from(changes) / change_time.as_secs_f64();
    println!(
        "{changes} changes in {:.3} s of applying ({rate:.0} per second) while {sent} frames were forwarded \
         to the untouched slaves: {} lost",
        change_time.as_secs_f64(),
        sent - received_total
    );
    assert_eq!(received_total, sent, "frames of the untouched slaves lost");
    assert_eq!(from_new_total, new_slave_frames);

    let stats = finish(sw);
    let dropped = |slave: &str| {
        stats[slave]
            .drops
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| (r.to_string(), *n))
    };
    assert_eq!(dropped("b").count(), 0, "b dropped {:?}", stats["b"].drops);
    // a's only drop: its frame to the removed address found no owner, each cycle.
    let expected = vec![("no_owner".to_string(), CYCLES as u64)];
    assert_eq!(dropped("a").collect::<Vec<_>>(), expected);
    assert_eq!(stats["a"].rx_packets, 3 * CYCLES as u64);
    assert!(
        !stats.keys().any(|name| name.starts_with('x')),
        "a removed slave is still listed"
    );
}
