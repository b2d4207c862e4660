// Agent name, version and commit. The bundler replaces RECON_BUILD_* for the single binary;
// from source, the version comes from package.json and the commit is "source".
import packageJson from "../package.json" with { type: "json" };

declare const RECON_BUILD_VERSION: string | undefined;
declare const RECON_BUILD_COMMIT: string | undefined;

export const AGENT_NAME = "recon-agent";
export const AGENT_VERSION: string =
  typeof RECON_BUILD_VERSION === "string" ? RECON_BUILD_VERSION : packageJson.version;
export const AGENT_COMMIT: string =
  typeof RECON_BUILD_COMMIT === "string" ? RECON_BUILD_COMMIT : "source";
