// A cheap scan over the raw bytes of a JSON body for its nesting depth, run before JSON.parse:
// a 4 MB body of nested brackets would otherwise keep the event loop busy in the parser and the
// schema for seconds. Brackets inside strings do not count (escapes respected). The scan does
// not validate JSON; JSON.parse does that afterwards.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** The inventory schema nests about 6 deep; this leaves room without allowing abuse. */
export const MAX_JSON_DEPTH = 64;

/**
 * True when some object or array in `data` is nested deeper than `max`.
 * @example jsonDepthExceeds(Buffer.from('{"a":[["[[["]]}'), 2) === false
 */
export function jsonDepthExceeds(data: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}
