// The peer's progress, told to the master as it happens (POST /api/v1/events): agent-started,
// collected (with the collectors that failed), uploaded, powering-off (the mode), and spooled or
// error (the reason). Best effort by design: an event that cannot be sent is logged and dropped,
// after one short attempt. It never delays the run by more than EVENT_TIMEOUT_MS, never fails it,
// and never stands between the acknowledgement and the power-off.
import { request } from "undici";
import type { Log } from "./upload.ts";

/** One attempt, this long at most (connect, headers and body together). */
export const EVENT_TIMEOUT_MS = 2_000;

export type PeerEventType =
  | "agent-started"
  | "collected"
  | "uploaded"
  | "powering-off"
  | "spooled"
  | "error";

export interface PeerEventFields {
  nodeId: string | null;
  bootMac: string | null;
  failedCollectors?: string[];
  method?: string;
  reason?: string;
}

export interface EventSender {
  /** Sends one event; resolves true when the master took it (202), false otherwise. */
  send(type: PeerEventType, fields: PeerEventFields): Promise<boolean>;
}

export function eventSender(options: {
  masterUrl: URL;
  token: string | null;
  log: Log;
  timeoutMs?: number;
}): EventSender {
  const url = new URL("api/v1/events", options.masterUrl);
  const timeoutMs = options.timeoutMs ?? EVENT_TIMEOUT_MS;
  return {
    async send(type, fields) {
      // Without either key the master cannot place the event: nothing to send.
      if (fields.nodeId === null && fields.bootMac === null) return false;
      const body = JSON.stringify({
        type,
        nodeId: fields.nodeId,
        bootMac: fields.bootMac,
        at: new Date().toISOString(),
        ...(fields.failedCollectors ? { failedCollectors: fields.failedCollectors } : {}),
        ...(fields.method ? { method: fields.method } : {}),
        ...(fields.reason ? { reason: fields.reason.slice(0, 2000) } : {}),
      });
      try {
        const response = await request(url, {
          method: "POST",
          body,
          headers: {
            "content-type": "application/json",
            ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          },
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          signal: AbortSignal.timeout(timeoutMs),
        });
        await response.body.dump().catch(() => undefined);
        if (response.statusCode === 202) return true;
        options.log("event.refused", { type, status: response.statusCode });
      } catch (error) {
        options.log("event.unsent", { type, problem: String(error) });
      }
      return false;
    },
  };
}
