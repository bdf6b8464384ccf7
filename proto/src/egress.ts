import { z } from "zod";

/**
 * One entry of an egress allow list: a DNS name (`example.com`, which also covers nothing but
 * itself), a wildcard (`*.example.com`: every name below it, not the name itself) or an IPv4
 * address or CIDR (`203.0.113.7`, `10.0.0.0/8`). Names are lower case, without a trailing dot.
 */
export const EgressAllowEntry = z
  .string()
  .max(253)
  .regex(
    /^(?:(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|(?:\d{1,3}\.){3}\d{1,3}(?:\/\d{1,2})?)$/,
    "must be a lower-case DNS name, *.<name>, or an IPv4 address/CIDR",
  );

/**
 * What a job's VM may reach besides what isolation always forbids (the host, private ranges,
 * metadata: docs/network-isolation.md), enforced by its host (docs/egress-policy.md).
 *  - `open`: the internet, as before egress policies (the default).
 *  - `allow`: only the names (resolved through the host's DNS proxy) and CIDRs of `allow`.
 *  - `audit`: everything, as `open`, but what `allow` would have denied is recorded (VmEgressDenied).
 */
export const EgressPolicy = z.object({
  mode: z.enum(["open", "allow", "audit"]),
  allow: z.array(EgressAllowEntry).max(256),
  /** Where it came from, for the audit trail: `default`, `cli`, or `rule:<name>` of the control plane's policy file. */
  source: z.string().min(1).max(128),
});
export type EgressPolicy = z.infer<typeof EgressPolicy>;
export type EgressMode = EgressPolicy["mode"];
