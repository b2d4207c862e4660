// Upload to the master with retries, and the acknowledgement check. The master answers each PUT
// with the sha256 of the bytes it stored; only a matching hash counts as acknowledged.
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { ERROR_CODES, ReconError } from "../errors.ts";

export type Log = (event: string, fields?: Record<string, unknown>) => void;

export interface Ack {
  nodeId: string;
  sha256: string;
  bytes: number;
  storedAt: string;
  unchanged: boolean;
}

export interface RetryPolicy {
  /** Give up after this long (all attempts together). */
  totalTimeoutMs: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Per-request limit, so one stuck connection cannot eat the whole budget. */
  requestTimeoutMs?: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Full-jitter exponential backoff: random in [0, min(max, initial * 2^attempt)]. */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random = Math.random,
) {
  return Math.round(random() * Math.min(maxMs, initialMs * 2 ** attempt));
}

class Retryable extends Error {}

async function putOnce(
  url: URL,
  body: Uint8Array,
  contentType: string,
  token: string | null,
  timeoutMs: number,
): Promise<Ack> {
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(url, {
      method: "PUT",
      body,
      headers: {
        "content-type": contentType,
        "content-length": String(body.byteLength),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (error) {
    // Connection refused/reset, DNS, timeouts: the master may come up later.
    throw new Retryable(error instanceof Error ? error.message : String(error));
  }
  const text = await response.body.text().catch(() => "");
  const status = response.statusCode;
  if (status >= 500 || status === 408 || status === 429) {
    throw new Retryable(`HTTP ${status}: ${text.slice(0, 200)}`);
  }
  if (status < 200 || status >= 300) {
    throw new ReconError(
      ERROR_CODES.UPLOAD_FAILED,
      `master refused ${url.pathname}: HTTP ${status}: ${text.slice(0, 500)}`,
    );
  }
  try {
    return JSON.parse(text) as Ack;
  } catch {
    throw new Retryable(`HTTP ${status} without a JSON acknowledgement`);
  }
}

/**
 * PUTs `body` until the master acknowledges exactly these bytes, or the time is up.
 * Retries connection errors, 5xx, 408, 429 and wrong acknowledgements; a 4xx is final.
 */
export async function putAcknowledged(options: {
  url: URL;
  body: Uint8Array;
  contentType: string;
  token: string | null;
  policy: RetryPolicy;
  log: Log;
}): Promise<Ack> {
  const { url, body, policy, log } = options;
  const expected = sha256Hex(body);
  const deadline = Date.now() + policy.totalTimeoutMs;
  const initial = policy.initialDelayMs ?? 500;
  const max = policy.maxDelayMs ?? 15_000;
  let lastProblem = "";
  let mismatch = false;
  for (let attempt = 0; ; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      const ack = await putOnce(
        url,
        body,
        options.contentType,
        options.token,
        Math.min(policy.requestTimeoutMs ?? 60_000, remaining),
      );
      if (ack.sha256 === expected) {
        log("upload.acknowledged", {
          url: url.href,
          sha256: expected,
          bytes: body.byteLength,
          attempt,
        });
        return ack;
      }
      mismatch = true;
      lastProblem = `master acknowledged sha256 ${String(ack.sha256)}, expected ${expected}`;
    } catch (error) {
      if (!(error instanceof Retryable)) throw error;
      mismatch = false;
      lastProblem = error.message;
    }
    const delay = Math.min(backoffDelay(attempt, initial, max), Math.max(0, deadline - Date.now()));
    log("upload.retry", { url: url.href, attempt, problem: lastProblem, delayMs: delay });
    await sleep(delay);
  }
  throw new ReconError(
    mismatch ? ERROR_CODES.ACK_MISMATCH : ERROR_CODES.UPLOAD_FAILED,
    `no acknowledgement from ${url.origin} within ${Math.round(policy.totalTimeoutMs / 1000)} s: ${lastProblem}`,
  );
}

export function nodeUrl(master: URL, nodeId: string, part: "inventory" | "evidence"): URL {
  return new URL(`api/v1/nodes/${encodeURIComponent(nodeId)}/${part}`, master);
}
