import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gitlabLaunch } from "./launch.js";

// The launch's wrapper run for real (/bin/sh, mkfifo, a process tree), with a stand-in
// gitlab-runner on PATH that reports what a job of it could see: its own environment, every
// process's environment, the config file after it was read. (The real gitlab-runner reads
// `--config` once at start, commands/single.go HandleArgs; the image here has a stand-in.)
describe("GitLab runner launch wrapper (real shell and processes)", () => {
  const dir = mkdtempSync(join(tmpdir(), "oneshot-gl-launch-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const token = `glrt-${"k".repeat(20)}`;

  it("hands the token to gitlab-runner through a FIFO only: not in its environment, argv, any process's environment, and the FIFO is gone", () => {
    writeFileSync(
      join(dir, "gitlab-runner"),
      [
        "#!/bin/sh",
        'echo "ARGS $*"',
        'echo "SELF-ENV $(tr "\\0" "\\n" < /proc/$$/environ | grep -c "^CI_SERVER_TOKEN=")"',
        'cfg=$3; echo "CONFIG-TYPE $(stat -c %F "$cfg") $(stat -c %a "$cfg")"',
        'cat "$cfg" | sed "s/^/CONFIG /"',
        "sleep 0.3",
        `echo "ANY-ENV $(grep -l ${token} /proc/[0-9]*/environ 2>/dev/null | wc -l)"`,
        '[ -e "$cfg" ] && echo "CONFIG-LEFT" || echo "CONFIG-GONE"',
      ].join("\n"),
    );
    chmodSync(join(dir, "gitlab-runner"), 0o755);
    const launch = gitlabLaunch({ url: "https://gitlab.example.com", token, runnerName: "oneshot-metal-02-abcde12345" });
    const r = spawnSync(launch.argv[0]!, launch.argv.slice(1), { env: { PATH: `${dir}:/usr/bin:/bin`, ...launch.env }, encoding: "utf8", timeout: 10_000 });
    expect(r.stderr).toBe("");
    const out = r.stdout;
    expect(out).toMatch(/^ARGS run-single --config \/tmp\/tmp\.\w+\/config\.toml --runner oneshot-metal-02-abcde12345 --max-builds 1 --wait-timeout 120$/m);
    expect(out).toContain("SELF-ENV 0\n");
    expect(out).toContain("CONFIG-TYPE fifo 600\n");
    expect(out).toContain(
      `CONFIG [[runners]]\nCONFIG   name = "oneshot-metal-02-abcde12345"\nCONFIG   url = "https://gitlab.example.com"\nCONFIG   token = "${token}"\nCONFIG   executor = "shell"\n`,
    );
    expect(out).toContain("ANY-ENV 0\n");
    expect(out).toContain("CONFIG-GONE\n");
    expect(r.status).toBe(0);
    // The FIFO's directory is gone too: nothing of the token is left on any file system.
    const cfgDir = /--config (\/tmp\/tmp\.\w+)\//.exec(out)?.[1];
    expect(cfgDir && readdirSync("/tmp").includes(cfgDir.slice(5))).toBe(false);
  });
});
