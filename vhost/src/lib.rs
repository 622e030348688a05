//! vhost-user slave ports (server and client/reconnect mode, multiqueue, guest attach and
//! detach events, MAC rewriting for guests whose MAC differs from the shared one).
//!
//! Not implemented yet: nothing here is used by the switch. The switch's port interface
//! (`switch::port`, an enum over ethdev queues and rings) is where a vhost virtqueue variant
//! goes, built on DPDK's vhost library so that a vhost slave takes no ethdev.
