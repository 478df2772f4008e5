/**
 * Charts as files: a Vega-Lite spec compiled to Vega, rendered headless to SVG,
 * and the SVG rasterized to PNG by resvg (system fonts; DejaVu Sans preferred).
 */
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export type { TopLevelSpec };

export const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

/** Shared look: white background, readable type, light grid. */
export const CHART_CONFIG = {
  background: "white",
  font: FONT,
  padding: 16,
  title: { fontSize: 16, anchor: "start", subtitleFontSize: 12, subtitleColor: "#555" },
  axis: { labelFontSize: 12, titleFontSize: 13, gridColor: "#e6e6e6" },
  legend: { labelFontSize: 12, titleFontSize: 12, labelLimit: 360 },
  view: { stroke: "#ccc" },
} as const;

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The SVG at `scale` x its size, as PNG bytes. */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const r = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
    background: "white",
  });
  return r.render().asPng();
}
