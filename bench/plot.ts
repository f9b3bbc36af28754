// A hand-written SVG of one run: latency distributions (CDF, log time axis) and hops per overlay size
// (measured clusters, the simulator, and log16 N). No plotting dependency.
import { CDF_FRACTIONS, type BenchResult, type LatencyCurve } from "./lib/result.js";

const WIDTH = 1000;
const HEIGHT = 540;
const PANEL = { width: 420, height: 300, top: 60 };
const LEFT_X = 70;
const RIGHT_X = 570;
/** Legends go under the panels, clear of the curves. */
const LEGEND_TOP = PANEL.top + PANEL.height + 58;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

export function renderSvg(r: BenchResult): string {
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14">Wendy benchmark ${esc(r.date)} (commit ${esc(r.commit)})</text>`,
  );
  parts.push(...latencyPanel(pickCurves(r)));
  parts.push(...hopsPanel(r));
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** The small-payload curves: baseline and routed Send at every cluster size. */
function pickCurves(r: BenchResult): LatencyCurve[] {
  const small = `${Math.min(...r.settings.payloadBytes)} B`;
  return r.latencyCurves.filter((c) => c.label.endsWith(small) && !c.label.startsWith("Call"));
}

function latencyPanel(curves: readonly LatencyCurve[]): string[] {
  const out = [
    `<text x="${LEFT_X + PANEL.width / 2}" y="45" text-anchor="middle" font-size="13">Latency distribution (CDF)</text>`,
  ];
  const values = curves.flatMap((c) => c.points).filter((v) => Number.isFinite(v) && v > 0);
  if (values.length === 0)
    return [...out, `<text x="${LEFT_X}" y="${PANEL.top + 20}">no latency samples</text>`];
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const span = Math.max(1, hi - lo);
  const x = (ms: number): number => LEFT_X + ((Math.log10(ms) - lo) / span) * PANEL.width;
  const y = (f: number): number => PANEL.top + (1 - f) * PANEL.height;
  out.push(...axes(LEFT_X, "latency, ms (log)", "fraction of messages"));
  for (let d = lo; d <= hi; d++) out.push(tick(x(10 ** d), PANEL.top + PANEL.height, formatMs(10 ** d), "x"));
  for (const f of [0, 0.25, 0.5, 0.75, 1]) out.push(tick(LEFT_X, y(f), f.toFixed(2), "y"));
  curves.forEach((c, i) => {
    const color = COLORS[i % COLORS.length]!;
    const points = c.points
      .map((v, k) =>
        Number.isFinite(v) && v > 0 ? `${x(v).toFixed(1)},${y(CDF_FRACTIONS[k]!).toFixed(1)}` : "",
      )
      .filter((p) => p !== "");
    const dash = c.label.startsWith("unary") ? ` stroke-dasharray="5,3"` : "";
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.8"${dash} points="${points.join(" ")}"/>`,
    );
    out.push(legend(LEFT_X, LEGEND_TOP + i * 14, color, c.label, dash !== ""));
  });
  return out;
}

function hopsPanel(r: BenchResult): string[] {
  const out = [
    `<text x="${RIGHT_X + PANEL.width / 2}" y="45" text-anchor="middle" font-size="13">Mean hops per overlay size N</text>`,
  ];
  const measured = r.clusters.map((c) => ({ n: c.nodes, hops: c.meanHops }));
  const simulated = (r.sim?.rows ?? []).map((s) => ({
    n: s.nodes,
    hops: s.meanHops,
    proximity: s.proximityAware,
  }));
  const maxN = Math.max(100_000, ...measured.map((p) => p.n), ...simulated.map((p) => p.n));
  const hiExp = Math.ceil(Math.log10(maxN));
  const maxHops = Math.max(5, Math.ceil(Math.log(maxN) / Math.log(16)));
  const x = (n: number): number => RIGHT_X + (Math.log10(n) / hiExp) * PANEL.width;
  const y = (h: number): number => PANEL.top + (1 - h / maxHops) * PANEL.height;
  out.push(...axes(RIGHT_X, "N, nodes (log)", "mean hops"));
  for (let d = 0; d <= hiExp; d++)
    out.push(tick(x(10 ** d), PANEL.top + PANEL.height, (10 ** d).toLocaleString("en-US"), "x"));
  for (let h = 0; h <= maxHops; h++) out.push(tick(RIGHT_X, y(h), String(h), "y"));
  const reference: string[] = [];
  for (let e = 0; e <= hiExp * 10; e++) {
    const n = 10 ** (e / 10);
    reference.push(`${x(n).toFixed(1)},${y(Math.log(n) / Math.log(16)).toFixed(1)}`);
  }
  out.push(`<polyline fill="none" stroke="#999" stroke-dasharray="4,3" points="${reference.join(" ")}"/>`);
  out.push(legend(RIGHT_X, LEGEND_TOP, "#999", "log16 N", true));
  for (const p of measured)
    if (Number.isFinite(p.hops))
      out.push(`<circle cx="${x(p.n).toFixed(1)}" cy="${y(p.hops).toFixed(1)}" r="4" fill="${COLORS[0]}"/>`);
  out.push(legend(RIGHT_X, LEGEND_TOP + 14, COLORS[0]!, "real daemons (this run)", false));
  for (const p of simulated)
    if (Number.isFinite(p.hops))
      out.push(
        `<rect x="${(x(p.n) - 4).toFixed(1)}" y="${(y(p.hops) - 4).toFixed(1)}" width="8" height="8" fill="${p.proximity ? COLORS[1] : COLORS[2]}"/>`,
      );
  out.push(legend(RIGHT_X, LEGEND_TOP + 28, COLORS[1]!, "simulator, proximity tables", false));
  out.push(legend(RIGHT_X, LEGEND_TOP + 42, COLORS[2]!, "simulator, no proximity", false));
  return out;
}

function axes(left: number, xLabel: string, yLabel: string): string[] {
  const bottom = PANEL.top + PANEL.height;
  return [
    `<rect x="${left}" y="${PANEL.top}" width="${PANEL.width}" height="${PANEL.height}" fill="none" stroke="#333"/>`,
    `<text x="${left + PANEL.width / 2}" y="${bottom + 35}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="${left - 45}" y="${PANEL.top + PANEL.height / 2}" text-anchor="middle" transform="rotate(-90 ${left - 45} ${PANEL.top + PANEL.height / 2})">${esc(yLabel)}</text>`,
  ];
}

function tick(px: number, py: number, label: string, axis: "x" | "y"): string {
  return axis === "x"
    ? `<line x1="${px.toFixed(1)}" y1="${py}" x2="${px.toFixed(1)}" y2="${py + 4}" stroke="#333"/><text x="${px.toFixed(1)}" y="${py + 16}" text-anchor="middle">${esc(label)}</text>`
    : `<line x1="${px - 4}" y1="${py.toFixed(1)}" x2="${px}" y2="${py.toFixed(1)}" stroke="#333"/><text x="${px - 6}" y="${(py + 4).toFixed(1)}" text-anchor="end">${esc(label)}</text>`;
}

function legend(px: number, py: number, color: string, label: string, dashed: boolean): string {
  const dash = dashed ? ` stroke-dasharray="5,3"` : "";
  return `<line x1="${px}" y1="${py - 4}" x2="${px + 18}" y2="${py - 4}" stroke="${color}" stroke-width="2"${dash}/><text x="${px + 22}" y="${py}">${esc(label)}</text>`;
}

function formatMs(ms: number): string {
  return ms >= 1 ? String(ms) : ms.toPrecision(1);
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
