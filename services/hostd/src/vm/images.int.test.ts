import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findImages } from "./images.js";

// Real files laid out as images/build-minimal.sh and images/build-full.sh write them.
describe("guest images on disk (what HostRegistered.images advertises)", () => {
  let dir = "";
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const layout = (files: Record<string, string>) => {
    dir = mkdtempSync(join(tmpdir(), "oneshot-images-"));
    for (const [rel, content] of Object.entries(files)) {
      mkdirSync(join(dir, rel, ".."), { recursive: true });
      writeFileSync(join(dir, rel), content);
    }
  };
  const minimal = {
    "amd64/vmlinuz": "k",
    "amd64/initrd.img": "i",
    "amd64/rootfs.ext4": "r",
    "amd64/manifest.json": JSON.stringify({ arch: "amd64", image: "minimal" }),
  };
  const names = async (arch: "amd64" | "arm64" = "amd64") => (await findImages(dir, arch)).map((i) => i.name);

  it("finds the minimal image and build-full.sh's full image beside it (same kernel and initrd)", async () => {
    layout({ ...minimal, "amd64/rootfs-full.ext4": "f", "amd64/manifest-full.json": JSON.stringify({ arch: "amd64", image: "full" }) });
    const imgs = await findImages(dir, "amd64");
    expect(imgs.map((i) => i.name)).toEqual(["minimal", "full"]);
    expect(imgs[1]).toMatchObject({
      kernel: join(dir, "amd64", "vmlinuz"),
      initrd: join(dir, "amd64", "initrd.img"),
      rootfs: join(dir, "amd64", "rootfs-full.ext4"),
    });
  });

  it("lists only complete images of the arch asked for", async () => {
    layout({
      ...minimal,
      "amd64/rootfs-full.ext4": "f", // no manifest-full.json: a build that did not finish
      "amd64/manifest-big.json": "{}", // no rootfs-big.ext4
      "amd64/rootfs-bad.ext4": "b",
      "amd64/manifest-bad.json": "{not json",
      "amd64/rootfs-other.ext4": "o",
      "amd64/manifest-other.json": JSON.stringify({ arch: "arm64" }),
      "amd64/rootfs-full.ext4.tmp": "t",
    });
    expect(await names()).toEqual(["minimal"]);
    expect(await names("arm64")).toEqual([]);
  });

  it("has nothing without a kernel and initrd, and nothing for an empty dir", async () => {
    layout({ "amd64/rootfs.ext4": "r", "amd64/manifest.json": "{}" });
    expect(await names()).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
    layout({});
    expect(await names()).toEqual([]);
  });
});
