/* Everything dpdk-sys binds. rte_config.h must come first. */
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_eth_ring.h>
#include <rte_version.h>
#include <rte_vhost.h>
#include <rte_telemetry.h>
#include <rte_pdump.h>
#include <rte_lpm.h>

/* rte_errno is a thread-local variable: stable Rust cannot read extern TLS. */
int dpdk_sys_errno(void);
