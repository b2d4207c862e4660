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
