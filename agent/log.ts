// Step logging for run mode: one JSON object per line on stderr (for machines and the master's
// journal), and a readable line on stdout (the console an operator watches on a crash cart).
export type LogFields = Record<string, unknown>;
export type Logger = (event: string, fields?: LogFields) => void;

export function consoleLogger(options: { human?: boolean } = {}): Logger {
  return (event, fields = {}) => {
    const at = new Date().toISOString();
    process.stderr.write(`${JSON.stringify({ at, event, ...fields })}\n`);
    if (options.human !== false) {
      const detail = Object.entries(fields)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      process.stdout.write(`recon: ${event}${detail ? ` ${detail}` : ""}\n`);
    }
  };
}
