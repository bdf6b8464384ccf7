import { envBool, envInt } from "@oneshot/runtime";

/** The guests' DNS proxy's port on their gateway (DNS's). */
export const DNS_PROXY_PORT = 53;

/** hostd's egress policy settings (docs/egress-policy.md), spread into HostdEnv. */
export const EgressEnv = {
  /**
   * `1` (default): hostd runs a DNS proxy on the bridge's gateway (udp/tcp 53), the guests' only
   * resolver, forwarding to HOSTD_DNS; it is what learns the addresses of a policy's allowed
   * names, and DNS to any other server is dropped. `0`: guests use HOSTD_DNS directly (the
   * rules' only exception, as before egress policies); allow lists then hold only their CIDRs.
   */
  HOSTD_DNS_PROXY: envBool.default(true),
  /** Shortest time (s) a resolved address stays in a VM's allow set, whatever the record's TTL (a TTL of 0 must still let the next connect through). */
  HOSTD_EGRESS_TTL_MIN_SEC: envInt(1, 86400).default(30),
  /** Longest time (s) a resolved address stays in a VM's allow set; longer TTLs are cut to it, in the answer the guest gets too. */
  HOSTD_EGRESS_TTL_MAX_SEC: envInt(1, 7 * 86400).default(3600),
  /**
   * Seconds between two VmEgressDenied of one VM (the first comes at once, a destroyed VM's last
   * at once); what happens between is aggregated per destination. The denied counters are read
   * every min(this, 2) seconds.
   */
  HOSTD_EGRESS_REPORT_INTERVAL: envInt(1, 3600).default(10),
};
