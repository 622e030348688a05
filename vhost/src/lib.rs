//! vhost-user slave ports (server and client/reconnect mode, multiqueue, guest attach and
//! detach events, MAC rewriting for guests whose MAC differs from the shared one).
//!
//! Not implemented yet: nothing here is used by the switch. The data plane already treats
//! every port as an ethdev queue pair, so DPDK's `net_vhost` PMD or a librte_vhost-backed
//! port can slot in behind the same `RxQueue`/`TxQueue` interface.
