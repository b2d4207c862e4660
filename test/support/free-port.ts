// A loopback TCP port nobody listens on right now, for a server a test starts that cannot bind
// port 0 and report it (Python services take their port from a config file). Between closing
// it here and the server binding it another process may take it: callers retry on a bind error.
import { createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}
