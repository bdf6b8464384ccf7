import { describe, expect, it } from "vitest";
import { mirrorInstances, registryConfig } from "./mirror-config.js";

describe("mirror instances and their registry configs", () => {
  const instances = mirrorInstances({
    dockerHubUpstream: "https://registry-1.docker.io",
    extra: [{ port: 5001, url: "https://ghcr.io" }],
    dir: "/var/lib/oneshot/registry-mirror",
  });

  it("Docker Hub on 5000, each extra registry on its port, each in a directory of its own", () => {
    expect(instances).toEqual([
      { name: "docker.io", port: 5000, upstream: "https://registry-1.docker.io", storage: "/var/lib/oneshot/registry-mirror/docker.io" },
      { name: "port-5001", port: 5001, upstream: "https://ghcr.io", storage: "/var/lib/oneshot/registry-mirror/port-5001" },
    ]);
  });

  it("a proxy on the gateway only, storage on the host, no descriptor cache, no debug listener, no credentials", () => {
    const c = JSON.parse(registryConfig(instances[0]!, "10.77.0.1")) as Record<string, Record<string, unknown>>;
    expect(c.http!.addr).toBe("10.77.0.1:5000");
    expect(c.http!.debug).toBeUndefined();
    expect(c.proxy).toEqual({ remoteurl: "https://registry-1.docker.io" });
    expect(c.storage!.filesystem).toEqual({ rootdirectory: "/var/lib/oneshot/registry-mirror/docker.io" });
    expect(c.storage!.cache).toBeUndefined();
    expect(c.storage!.redirect).toEqual({ disable: true });
  });
});
