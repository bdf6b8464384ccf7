import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { waitFor } from "@oneshot/testing";

const repo = join(import.meta.dirname, "..", "..", "..");
/** Where the browser tests write their screenshots (git-ignored). */
export const screenshotDir = join(repo, ".state", "screenshots");

/**
 * Debian's chromium binary itself, not its /usr/bin wrapper: the wrapper adds the flags of
 * /etc/chromium.d (and exports Google API keys), and we start it with our flags only.
 */
function chromiumBinary(): string | undefined {
  if (existsSync("/usr/lib/chromium/chromium")) return "/usr/lib/chromium/chromium";
  const r = spawnSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Debian's chromium, or why the browser tests cannot run here (printed: a skip is never silent). */
export function chromiumMissing(): string | undefined {
  if (chromiumBinary()) return undefined;
  const why = "chromium missing (apt-get install chromium; scripts/setup.sh installs it)";
  process.stderr.write(`SKIP (chromium): ${why}\n`);
  return why;
}

export interface TestBrowser {
  browser: Browser;
  page: Page;
  /** Writes a PNG of the page under `screenshotDir` and prints its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Debian's headless Chromium with nothing that reaches past this machine: no sync, no component
 * updates, no background networking, a fresh profile per run. Exactly these flags (puppeteer's
 * defaults are ignored; it adds only `--remote-debugging-pipe`, its DevTools transport, so no
 * debugging port is opened either).
 */
export async function launchChromium(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "oneshot-chromium-"));
  const executablePath = chromiumBinary()!;
  const browser = await puppeteer.launch({
    executablePath,
    pipe: true,
    ignoreDefaultArgs: true,
    defaultViewport: { width: 1400, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
  });
  const page = await browser.newPage();
  mkdirSync(screenshotDir, { recursive: true });
  return {
    browser,
    page,
    screenshot: async (name) => {
      const path = join(screenshotDir, `${name}.png`) as `${string}.png`;
      await page.screenshot({ path, fullPage: true });
      process.stdout.write(`screenshot: ${path}\n`);
      return path;
    },
    close: async () => {
      await browser.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The text of the page's main area (what a person reads), for assertions. */
export const mainText = (page: Page) => page.$eval("#page", (e) => (e as unknown as { innerText: string }).innerText);

/** Waits until the page's main area shows every one of `texts` (live updates arrive over SSE). */
export async function waitForText(page: Page, texts: (string | RegExp)[], timeoutMs = 30_000): Promise<string> {
  let last = "";
  return waitFor(
    `the page to show ${texts.join(", ")}`,
    async () => {
      last = await mainText(page);
      return texts.every((t) => (typeof t === "string" ? last.includes(t) : t.test(last))) ? last : undefined;
    },
    timeoutMs,
    200,
    () => `page text:\n${last.slice(0, 4000)}`,
  );
}

/** The event types of a job page's timeline, in order. */
export const timelineTypes = (page: Page) => page.$$eval("#timeline tr[data-type]", (rows) => rows.map((r) => r.getAttribute("data-type")));

/** The console text shown on a job page. */
export const consoleText = (page: Page) => page.$eval("#console", (e) => e.textContent ?? "");

/** POSTs from the page itself (same origin, its cookie): what a click would send. */
export const postFromPage = (page: Page, path: string, body: unknown = {}) =>
  page.evaluate(
    async (p, b) => {
      const r = await fetch(p, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(b) });
      return { status: r.status, body: (await r.json().catch(() => ({}))) as { error?: string; type?: string; seq?: number } };
    },
    path,
    body,
  );

/** Signs in through the header form, as an operator would. */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.type("#token", token);
  await page.click("#signin-button");
}
