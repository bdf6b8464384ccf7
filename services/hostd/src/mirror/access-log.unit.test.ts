import { describe, expect, it } from "vitest";
import { blobServed, parseAccessLine } from "./access-log.js";

const hex = "57832cef0be3e9e5a544a506ad3ad84042caae9924adb6cfdae38335bbd0b1b5";

describe("the registry's access log (distribution 2.8, combined format)", () => {
  it("a blob GET: client, status, repository and digest", () => {
    const l = parseAccessLine(
      `10.77.0.5 - - [02/Dec/2026:07:14:53 +0000] "GET /v2/library/hello/blobs/sha256:${hex} HTTP/1.1" 200 1000452 "" "docker/20.10.24 go/go1.19.8"`,
    );
    expect(l).toEqual({
      client: "10.77.0.5",
      method: "GET",
      path: `/v2/library/hello/blobs/sha256:${hex}`,
      status: 200,
      bytes: 1000452,
      blob: { repo: "library/hello", digest: `sha256:${hex}` },
    });
    expect(blobServed(l)).toBe(`sha256:${hex}`);
  });

  it("manifests by tag and by digest, a query string, and '-' for no bytes", () => {
    const l = parseAccessLine(
      `127.0.0.1 - - [02/Dec/2026:07:14:53 +0000] "HEAD /v2/org/team/app/manifests/v1.2?ns=docker.io HTTP/1.1" 200 - "" "skopeo/1.9.3"`,
    );
    expect(l).toMatchObject({ method: "HEAD", bytes: 0, manifest: { repo: "org/team/app", reference: "v1.2" } });
    expect(parseAccessLine(`1.2.3.4 - - [x] "GET /v2/a/manifests/sha256:${hex} HTTP/1.1" 200 427 "" ""`)?.manifest?.reference).toBe(`sha256:${hex}`);
  });

  it("only a GET answered 200 counts as a blob used: HEADs, misses and errors do not", () => {
    const at = (method: string, status: number) => parseAccessLine(`1.2.3.4 - - [x] "${method} /v2/a/blobs/sha256:${hex} HTTP/1.1" ${status} 0 "" ""`);
    expect(blobServed(at("HEAD", 200))).toBeUndefined();
    expect(blobServed(at("GET", 404))).toBeUndefined();
    expect(blobServed(at("GET", 500))).toBeUndefined();
    expect(blobServed(at("GET", 200))).toBe(`sha256:${hex}`);
  });

  it("the registry's own log lines are not requests", () => {
    expect(parseAccessLine(`time="2026-12-02T07:14:24Z" level=info msg="listening on 10.77.0.1:5000" go.version=go1.19.8`)).toBeUndefined();
    expect(parseAccessLine('panic: Get "http://127.0.0.1:15000/v2/": dial tcp: connection refused')).toBeUndefined();
    expect(parseAccessLine(`1.2.3.4 - - [x] "GET /v2/a/blobs/sha256:short HTTP/1.1" 200 1 "" ""`)?.blob).toBeUndefined();
  });
});
