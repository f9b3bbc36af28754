// Plain HTTP GETs to a daemon's metrics port (/readyz, /metrics), loopback only.
import { get } from "node:http";

export function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (c: Buffer) => chunks.push(c));
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on("error", reject);
  });
}

/** Sum of a counter's samples whose labels pass `keep`, from Prometheus text exposition. */
export function sumCounter(
  exposition: string,
  name: string,
  keep: (labels: Readonly<Record<string, string>>) => boolean,
): number {
  let sum = 0;
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    const match = /^[^{\s]+(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[1] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    if (keep(labels)) sum += Number(match[2]);
  }
  return sum;
}
