// Checks an evidence upload while it streams to disk: it must be a readable gzip tar of the
// capture layout (what agent/peer/evidence.ts packs: regular files, named by safe relative
// paths), within limits on entry count and unpacked size. Three gzip magic bytes followed by
// garbage, a gzip of something that is not a tar, or a truncated archive fail the check, and the
// store then discards the temp file, so the node's previous evidence stays current.
import { Parser, type ReadEntry } from "tar";
import { StoreError } from "./store.ts";

/** At most this many entries (a capture has a few dozen files). */
export const MAX_EVIDENCE_ENTRIES = 4096;
/** At most this many bytes once unpacked (all entry sizes together). */
export const MAX_EVIDENCE_UNPACKED_BYTES = 512 * 1024 * 1024;

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$/;
const ALLOWED_TYPES = new Set(["File", "OldFile", "ContiguousFile", "Directory"]);

/** A relative path of safe segments: no absolute path, no "..", no leading dot, no backslash. */
export function isSafeEntryName(name: string): boolean {
  const trimmed = name.endsWith("/") ? name.slice(0, -1) : name;
  if (trimmed === "" || trimmed.length > 1024) return false;
  const segments = trimmed.startsWith("./") ? trimmed.slice(2).split("/") : trimmed.split("/");
  return segments.length <= 8 && segments.every((s) => SEGMENT.test(s));
}

function invalid(message: string): StoreError {
  return new StoreError(
    400,
    "invalid_evidence",
    `evidence is not a gzip tar of a capture: ${message}`,
  );
}

/** Fed every chunk of the body in order (synchronously), then finish() at the end of the body. */
export class EvidenceCheck {
  private readonly parser: Parser;
  private failure: StoreError | null = null;
  private entries = 0;
  private unpacked = 0;
  private readonly ended: Promise<void>;

  constructor() {
    // strict: every warning (bad header, bad checksum, zlib error) is an error.
    this.parser = new Parser({ strict: true, maxMetaEntrySize: 64 * 1024 });
    this.parser.on("entry", (entry: ReadEntry) => this.onEntry(entry));
    this.ended = new Promise((resolve) => {
      this.parser.on("error", (error: Error) => {
        this.fail(invalid(error.message));
        resolve();
      });
      this.parser.once("end", () => resolve());
      this.parser.once("close", () => resolve());
    });
  }

  private fail(error: StoreError): void {
    this.failure ??= error;
  }

  private onEntry(entry: ReadEntry): void {
    entry.resume();
    this.entries++;
    if (this.entries > MAX_EVIDENCE_ENTRIES) {
      this.fail(invalid(`more than ${MAX_EVIDENCE_ENTRIES} entries`));
    } else if (!ALLOWED_TYPES.has(entry.type)) {
      this.fail(invalid(`entry ${JSON.stringify(entry.path)} is a ${entry.type}`));
    } else if (!isSafeEntryName(entry.path)) {
      this.fail(invalid(`entry name ${JSON.stringify(entry.path)} is not a safe relative path`));
    } else {
      this.unpacked += entry.size ?? 0;
      if (this.unpacked > MAX_EVIDENCE_UNPACKED_BYTES) {
        this.fail(invalid(`unpacks to more than ${MAX_EVIDENCE_UNPACKED_BYTES} bytes`));
      }
    }
  }

  /** Throws the first problem found so far (the body is then refused at once). */
  write(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    try {
      this.parser.write(chunk);
    } catch (error) {
      this.fail(invalid((error as Error).message));
    }
    if (this.failure) throw this.failure;
  }

  /** The whole body has been written: throws unless it was a complete archive with entries. */
  async finish(): Promise<void> {
    if (this.failure) throw this.failure;
    this.parser.end();
    await this.ended;
    if (this.failure) throw this.failure;
    if (this.entries === 0) throw invalid("the archive has no entries");
  }
}
