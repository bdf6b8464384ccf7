import { createServer } from "node:http";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { JAIL_ID_RE } from "../ids.js";
import { handle, newState, type FakeVmState } from "./fake-api-rules.js";
import { appendRecord } from "./fake-record.js";

/**
 * A stand-in for the `firecracker` binary (tests only; this machine has no Firecracker or
 * hardware KVM). Parses `--api-sock` and `--id`, serves the API on that unix socket with the
 * spec's validation and order rules, records every call, and after `InstanceStart` prints what
 * a booting guest of the contract would print on its serial console (Firecracker's stdout).
 *
 * Environment (the test's jailer wrapper sets it):
 * - FAKE_FC_ROOT: the chroot the (fake) jailer entered; absolute paths resolve under it.
 * - FAKE_FC_RECORD: JSON-lines file that gets every call and the exit.
 * - FAKE_FC_EXIT_AFTER_MS: after boot, print `ONESHOT-JOB-EXIT=` and exit after this long;
 *   `never` = only on SendCtrlAltDel (default 0).
 * - FAKE_FC_JOB_EXIT: the job's exit code in the marker (default 0).
 * - FAKE_FC_IGNORE_CTRL_ALT_DEL=1: a guest that does not react (for the SIGKILL path).
 *
 * A VM with a drive `job` is a warm pool VM (docs/warm-pool.md): its guest prints
 * `ONESHOT-AGENT-WARM` and waits; at `PATCH /drives/job` it reads the drive's header from the
 * (reopened) file, records the header and the file's size, and starts the job as a cold guest
 * would, naming the payload it got.
 */
export async function runFakeFirecracker(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (argv.includes("--version")) {
    process.stdout.write("Firecracker v1.10.1-fake\n");
    return;
  }
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const id = arg("--id") ?? "anonymous-instance";
  const apiSock = arg("--api-sock") ?? "/run/firecracker.socket";
  if (!JAIL_ID_RE.test(id)) return die(`Invalid instance ID: ${id}`);
  const root = env.FAKE_FC_ROOT ?? "/";
  const record = env.FAKE_FC_RECORD;
  const st = newState(id, root);
  const sock = join(root, apiSock);
  const exitWith = (code: number, why: string) => {
    appendRecord(record, { who: "firecracker", event: "exit", code, why });
    process.stdout.write("", () => process.exit(code));
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString();
      let body: unknown;
      let reply;
      try {
        body = raw ? JSON.parse(raw) : undefined;
        reply = handle(st, req.method ?? "", req.url ?? "", body);
      } catch {
        reply = { status: 400, body: { fault_message: "The request body is not valid JSON." } };
      }
      const fault = (reply.body as { fault_message?: string } | undefined)?.fault_message;
      appendRecord(record, { who: "firecracker", method: req.method ?? "", path: req.url ?? "", body, status: reply.status, ...(fault ? { fault } : {}) });
      const payload = reply.body === undefined ? "" : JSON.stringify(reply.body);
      res.writeHead(reply.status, payload ? { "Content-Type": "application/json" } : {});
      res.end(payload);
      res.once("finish", () => {
        if ("action" in reply && reply.action === "InstanceStart") {
          if (st.drives.has("job")) process.stdout.write("ONESHOT-AGENT-WARM\n");
          else boot(st, env, exitWith);
        }
        if ("action" in reply && reply.action === "DriveUpdated" && reply.driveId === "job") {
          const file = join(st.root, String(st.drives.get("job")!.path_on_host));
          const header = readFileSync(file).subarray(0, 4096).toString().split("\n")[0]!;
          appendRecord(record, { who: "firecracker", event: "job-drive", header, size: statSync(file).size });
          if (header.startsWith("oneshot-job-drive-v1 ready ")) boot(st, env, exitWith, header.split(" ")[2]);
        }
        if ("action" in reply && reply.action === "SendCtrlAltDel" && env.FAKE_FC_IGNORE_CTRL_ALT_DEL !== "1") {
          process.stdout.write("reboot: Restarting system\n");
          exitWith(0, "SendCtrlAltDel");
        }
      });
    });
  });
  rmSync(sock, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(sock, resolve);
  });
}

/** What a guest of docs/guest-contract.md prints on its console, then its power-off. */
function boot(st: FakeVmState, env: NodeJS.ProcessEnv, exitWith: (code: number, why: string) => void, handedBytes?: string): void {
  const out = (line: string) => process.stdout.write(line + "\n");
  out(`[    0.000000] Linux version 6.1.0-fake (oneshot fake-firecracker) vcpus=${st.machine.vcpu_count} mem=${st.machine.mem_size_mib}MiB`);
  out(`[    0.000000] Command line: ${String(st.bootSource?.boot_args ?? "")}`);
  out("ONESHOT-AGENT-READY");
  out(`ONESHOT-JOB-START kind=local job=${st.id}${handedBytes ? ` handed=${handedBytes}` : ""}`);
  out("hello from the fake guest");
  const after = env.FAKE_FC_EXIT_AFTER_MS ?? "0";
  if (after === "never") return;
  setTimeout(() => {
    out(`ONESHOT-JOB-EXIT=${env.FAKE_FC_JOB_EXIT ?? "0"}`);
    out("reboot: Restarting system");
    exitWith(0, "guest rebooted");
  }, Number(after));
}

function die(message: string): void {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
