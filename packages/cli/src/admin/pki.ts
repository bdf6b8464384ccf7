import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { X509Certificate, createPrivateKey, webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
type CryptoKey = webcrypto.CryptoKey;

/**
 * The TLS material NATS uses: a private CA (10 years) and a server certificate it signs (2
 * years) for the names clients dial. ECDSA P-256. Kept as PEM files in one directory:
 *   ca.pem, ca.key (0600, stays with the operator), server.pem, server.key (0600, nats-server only).
 * Idempotent: an existing CA is kept; the server certificate is re-issued when its names
 * change or it has under 30 days left.
 */
export const pkiFiles = (dir: string) => ({
  ca: join(dir, "ca.pem"),
  caKey: join(dir, "ca.key"),
  cert: join(dir, "server.pem"),
  key: join(dir, "server.key"),
});

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export interface PkiResult {
  files: ReturnType<typeof pkiFiles>;
  /** What changed: "created", "reissued" (names or expiry), or "kept". */
  ca: "created" | "kept";
  server: "created" | "reissued" | "kept";
}

export async function ensurePki(dir: string, serverNames: string[], now = new Date()): Promise<PkiResult> {
  const names = [...new Set(serverNames.map((n) => n.trim()).filter(Boolean))].sort();
  if (names.length === 0) throw new Error("the server certificate needs at least one name or IP that clients dial");
  for (const n of names)
    if (!isIP(n) && !/^[A-Za-z0-9*]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*$/.test(n))
      throw new Error(`${JSON.stringify(n)} is neither a DNS name nor an IP address`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = pkiFiles(dir);
  let ca: "created" | "kept" = "kept";
  if (!existsSync(f.ca) || !existsSync(f.caKey)) {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: "CN=oneshot NATS CA",
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 3650 * DAY),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    writeFileSync(f.caKey, await pemKey(keys.privateKey), { mode: 0o600 });
    writeFileSync(f.ca, cert.toString("pem") + "\n", { mode: 0o644 });
    ca = "created";
  }
  const why = ca === "created" ? "created" : serverCertStale(f, names, now);
  if (why === "kept") return { files: f, ca, server: "kept" };
  const caCert = new x509.X509Certificate(readFileSync(f.ca, "utf8"));
  const caKey = await importKey(readFileSync(f.caKey, "utf8"));
  const keys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0]}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - DAY),
    notAfter: new Date(now.getTime() + 730 * DAY),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      // clientAuth too: cluster nodes present it to each other on routes (mutual TLS).
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n }))),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  writeFileSync(f.key, await pemKey(keys.privateKey), { mode: 0o600 });
  writeFileSync(f.cert, cert.toString("pem") + "\n" + caCert.toString("pem") + "\n", { mode: 0o644 });
  return { files: f, ca, server: why };
}

/** "kept" when server.pem exists, is signed by ca.pem, names exactly `names` and has 30+ days left. */
function serverCertStale(f: ReturnType<typeof pkiFiles>, names: string[], now: Date): "created" | "reissued" | "kept" {
  if (!existsSync(f.cert) || !existsSync(f.key)) return "created";
  const cert = new X509Certificate(readFileSync(f.cert));
  const ca = new X509Certificate(readFileSync(f.ca));
  const have = (cert.subjectAltName ?? "")
    .split(", ")
    .map((s) => s.replace(/^(DNS|IP Address):/, ""))
    .filter(Boolean)
    .sort();
  const clientAuth = (cert.keyUsage ?? []).includes("1.3.6.1.5.5.7.3.2");
  const ok =
    cert.verify(ca.publicKey) && clientAuth && JSON.stringify(have) === JSON.stringify(names) && new Date(cert.validTo).getTime() - now.getTime() > 30 * DAY;
  return ok ? "kept" : "reissued";
}

async function pemKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs8" }).toString();
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ format: "der", type: "pkcs8" });
  return webcrypto.subtle.importKey("pkcs8", der, ALG, false, ["sign"]);
}

const serial = () =>
  Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString("hex")
    .replace(/^[89a-f]/, "1");
