// The raw evidence: the capture directory the document was built from, as a .tar.gz, so the
// master can re-parse old captures after a parser fix.
import { readdir } from "node:fs/promises";
import { create } from "tar";

/** Maximum evidence size the agent will send; the master enforces its own limit too. */
export const MAX_EVIDENCE_BYTES = 64 * 1024 * 1024;

export async function packEvidence(dir: string): Promise<Buffer> {
  const files = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name)
    .sort();
  const chunks: Buffer[] = [];
  let total = 0;
  const stream = create({ gzip: true, cwd: dir, portable: true }, files);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_EVIDENCE_BYTES)
      throw new Error(`evidence larger than ${MAX_EVIDENCE_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
