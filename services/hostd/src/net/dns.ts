import { readFile } from "node:fs/promises";

/**
 * The DNS server guests use (pure): the first IPv4 `nameserver` of the given resolv.conf
 * texts that is not loopback (a local stub such as systemd-resolved's 127.0.0.53 is
 * unreachable from a guest), else the fallback.
 */
export function pickDns(resolvConfs: string[], fallback = "1.1.1.1"): string {
  for (const text of resolvConfs) {
    for (const m of text.matchAll(/^\s*nameserver\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$/gm)) {
      if (!m[1]!.startsWith("127.")) return m[1]!;
    }
  }
  return fallback;
}

/** The host's resolvers: /etc/resolv.conf, then systemd-resolved's upstream list. */
export async function hostDns(): Promise<string> {
  const texts = await Promise.all(["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"].map((p) => readFile(p, "utf8").catch(() => "")));
  return pickDns(texts);
}
