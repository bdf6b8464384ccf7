import { existsSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { JAIL_ID_RE } from "../ids.js";
import { appendRecord } from "./fake-record.js";

const VALUED = new Set([
  "--id",
  "--exec-file",
  "--uid",
  "--gid",
  "--chroot-base-dir",
  "--netns",
  "--cgroup-version",
  "--cgroup",
  "--parent-cgroup",
  "--resource-limit",
]);
const FLAGS = new Set(["--daemonize", "--new-pid-ns"]);
const REPEATABLE = new Set(["--cgroup", "--resource-limit"]);

export interface JailerArgs {
  id: string;
  execFile: string;
  uid: number;
  gid: number;
  chrootBaseDir: string;
  netns?: string;
  cgroupVersion: number;
  cgroups: string[];
  daemonize: boolean;
  firecrackerArgs: string[];
}

/** Parses a jailer command line as the real one does (docs/jailer.md); throws its complaint (pure). */
export function parseJailerArgv(argv: string[]): JailerArgs {
  const sep = argv.indexOf("--");
  const own = sep >= 0 ? argv.slice(0, sep) : argv;
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < own.length; i++) {
    const a = own[i]!;
    if (FLAGS.has(a)) flags.add(a);
    else if (VALUED.has(a)) {
      const v = own[++i];
      if (v === undefined) throw new Error(`Argument ${a} requires a value`);
      if (values.has(a) && !REPEATABLE.has(a)) throw new Error(`Argument ${a} given twice`);
      values.set(a, [...(values.get(a) ?? []), v]);
    } else throw new Error(`Found argument '${a}' which wasn't expected`);
  }
  const one = (k: string) => values.get(k)?.[0];
  for (const k of ["--id", "--exec-file", "--uid", "--gid"]) if (one(k) === undefined) throw new Error(`Missing mandatory argument ${k}`);
  const id = one("--id")!;
  if (!JAIL_ID_RE.test(id)) throw new Error(`Invalid instance ID: ${id}`);
  const num = (k: string) => {
    const v = one(k)!;
    if (!/^\d+$/.test(v)) throw new Error(`Invalid ${k.slice(2)}: ${v}`);
    return Number(v);
  };
  const cgroupVersion = Number(one("--cgroup-version") ?? "1");
  if (cgroupVersion !== 1 && cgroupVersion !== 2) throw new Error(`Invalid cgroup version: ${one("--cgroup-version")}`);
  const cgroups = values.get("--cgroup") ?? [];
  for (const c of cgroups) if (!/^[a-z_]+\.[a-z_.]+=.+$/.test(c)) throw new Error(`Invalid cgroup: ${c}`);
  const execFile = one("--exec-file")!;
  if (!basename(execFile).includes("firecracker"))
    throw new Error(`Invalid filename. The filename of --exec-file option must contain "firecracker": ${execFile}`);
  return {
    id,
    execFile,
    uid: num("--uid"),
    gid: num("--gid"),
    chrootBaseDir: one("--chroot-base-dir") ?? "/srv/jailer",
    ...(one("--netns") ? { netns: one("--netns")! } : {}),
    cgroupVersion,
    cgroups,
    daemonize: flags.has("--daemonize"),
    firecrackerArgs: sep >= 0 ? argv.slice(sep + 1) : [],
  };
}

/**
 * A stand-in for the `jailer` binary (tests only). Parses and checks its argv, checks the
 * chroot and what the VM needs in it exist, drops to uid:gid when it can (root), and "execs"
 * the exec file in this same process, as the real jailer's execve keeps the pid: the exec
 * file must be the fake firecracker, which then sees absolute paths under the chroot.
 * What it cannot do: chroot(2), mount/pid/net namespaces, cgroups, seccomp, /dev nodes.
 */
export async function runFakeJailer(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  let a: JailerArgs;
  try {
    a = parseJailerArgv(argv);
    if (!existsSync(a.execFile) || !statSync(a.execFile).isFile()) throw new Error(`Failed to canonicalize path ${a.execFile}: No such file or directory`);
    if (a.netns && !existsSync(a.netns)) throw new Error(`Failed to open netns ${a.netns}: No such file or directory`);
  } catch (e) {
    process.stderr.write(`jailer: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const root = join(a.chrootBaseDir, basename(a.execFile), a.id, "root");
  if (!existsSync(root)) {
    process.stderr.write(`jailer: chroot ${root} does not exist\n`);
    process.exit(1);
  }
  appendRecord(env.FAKE_FC_RECORD, { who: "jailer", argv, uid: a.uid, gid: a.gid });
  if (process.getuid?.() === 0) {
    process.setgroups?.([a.gid]);
    process.setgid?.(a.gid);
    process.setuid?.(a.uid);
  }
  env.FAKE_FC_ROOT = root;
  process.argv = [process.argv[0]!, a.execFile, "--id", a.id, "--start-time-us", "0", ...a.firecrackerArgs];
  await import(pathToFileURL(a.execFile).href);
}
