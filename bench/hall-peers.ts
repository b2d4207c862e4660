// The simulated peers of the hall benchmarks (bench/hall.ts over HTTP, bench/hall-list.ts in
// process): peer i's nodeId, boot MAC and inventory document, each its own.
import { sampleInventory } from "../test/support/sample-inventory.ts";

const hex2 = (n: number) => (n & 255).toString(16).padStart(2, "0");
export const nodeIdOf = (i: number) => `hall-${String(i).padStart(4, "0")}`;
export const macOf = (i: number) => `02:00:${hex2(i >> 8)}:${hex2(i)}:5e:10`;

/** The sample document made peer i's own: nodeId, hostname, serials, UUID, NIC and BMC MACs. */
export function documentTextOf(i: number): string {
  const nodeId = nodeIdOf(i);
  return JSON.stringify(sampleInventory({ nodeId, hostname: nodeId }))
    .replaceAll("7G6P2Z2", `HB${String(i).padStart(5, "0")}`)
    .replaceAll("b4:96:91:3c", `02:00:${hex2(i >> 8)}:${hex2(i)}`)
    .replaceAll("b4-96-91-3c", `02-00-${hex2(i >> 8)}-${hex2(i)}`)
    .replaceAll("d0:94:66:2a:7b:01", `06:00:${hex2(i >> 8)}:${hex2(i)}:7b:01`)
    .replaceAll("8044-b4c04f594d32", `8044-${i.toString(16).padStart(12, "0")}`)
    .replaceAll("S4D2NA0N100742", `S4D2NA0N${String(i).padStart(6, "0")}`)
    .replaceAll("PHYF9154012H480BGN", `PHYF9154012H${String(i).padStart(6, "0")}`);
}
