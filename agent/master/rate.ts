// The minimum transfer rate of an upload body. A client that trickles bytes (one every 2 s)
// defeats an idle timeout and would hold an upload slot for the whole request timeout; with a
// few such clients every slot is taken. After a grace period, an upload whose average rate since
// admission is below the minimum is cut.
import type { Socket } from "node:net";

/** How often the rate is checked once the grace period is over. */
const CHECK_EVERY_MS = 500;

export interface RateWatch {
  stop(): void;
}

/**
 * Calls `onSlow(bytesPerSecond)` once if the socket's average receive rate, counted from now,
 * is below `minBytesPerSecond` at any check after `graceMs`. bytesRead counts what the kernel
 * handed to the process, so a body parked in kernel buffers (a paused socket) does not count.
 */
export function watchRate(
  socket: Socket,
  minBytesPerSecond: number,
  graceMs: number,
  onSlow: (bytesPerSecond: number) => void,
): RateWatch {
  const startBytes = socket.bytesRead;
  const started = performance.now();
  let interval: NodeJS.Timeout | undefined;
  const check = () => {
    const seconds = (performance.now() - started) / 1000;
    const rate = (socket.bytesRead - startBytes) / seconds;
    if (rate < minBytesPerSecond) {
      watch.stop();
      onSlow(Math.round(rate * 10) / 10);
    }
  };
  const grace = setTimeout(() => {
    check();
    if (!stopped) interval = setInterval(check, CHECK_EVERY_MS);
  }, graceMs);
  let stopped = false;
  const watch: RateWatch = {
    stop() {
      stopped = true;
      clearTimeout(grace);
      if (interval) clearInterval(interval);
    },
  };
  return watch;
}

/** A token bucket's size and refill. */
export interface RateLimit {
  /** Requests admitted at once. */
  burst: number;
  /** Requests admitted per second after the burst. */
  perSecond: number;
}

/**
 * Peer events per client IP: a boot sends about six; a burst of 120, then 10 per second, leaves
 * room for retries and reboots while one client cannot fill the disk or the event loop.
 */
export const DEFAULT_EVENT_RATE: RateLimit = { burst: 120, perSecond: 10 };
/** Uploads (inventory and evidence PUTs) per client IP: a run makes two, retries a few more. */
export const DEFAULT_UPLOAD_RATE: RateLimit = { burst: 120, perSecond: 2 };

/** Clients (IP addresses) tracked at once; the least recently seen is forgotten beyond. */
export const MAX_TRACKED_CLIENTS = 4096;

/**
 * A token bucket per client IP: one peer flooding events or uploads is refused (429) while the
 * rest of the hall goes on, which one bucket over all peers could not do. Memory is bounded:
 * at most `maxClients` buckets, the least recently used dropped first (a forgotten client comes
 * back with a full bucket: at most one burst more, and a /22 hall has 1,007 addresses).
 */
export class ClientRate {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();
  private readonly limit: RateLimit;
  private readonly maxClients: number;
  constructor(limit: RateLimit, maxClients = MAX_TRACKED_CLIENTS) {
    this.limit = { burst: Math.max(1, limit.burst), perSecond: Math.max(0, limit.perSecond) };
    this.maxClients = Math.max(1, maxClients);
  }

  /** True when one more request from `client` may pass at `now` (ms). */
  take(client: string, now = performance.now()): boolean {
    const { burst, perSecond } = this.limit;
    const bucket = this.buckets.get(client);
    let tokens = burst;
    if (bucket) {
      tokens = Math.min(burst, bucket.tokens + ((now - bucket.last) / 1000) * perSecond);
      // Re-inserted below: Map order is then least recently used first.
      this.buckets.delete(client);
    } else if (this.buckets.size >= this.maxClients) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    const admitted = tokens >= 1;
    this.buckets.set(client, { tokens: admitted ? tokens - 1 : tokens, last: now });
    return admitted;
  }

  /** Clients tracked now (at most maxClients). */
  get size(): number {
    return this.buckets.size;
  }
}
