/**
 * A vega-lite spec to SVG (vega-lite compiles it, vega renders it headless in Node) and to PNG
 * (@resvg/resvg-js, with the system's fonts).
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

// vega-lite's warnings (e.g. about scale resolution) would only clutter the report's output.
const quiet = vega.logger(vega.None);

/** The SVG text of a vega-lite spec. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec, { logger: quiet }).spec), { renderer: 'none', logger: quiet });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A PNG of an SVG (twice the SVG's size, for sharp text). */
export function renderPng(svg: string): Buffer {
  return new Resvg(svg, { font: { loadSystemFonts: true }, fitTo: { mode: 'zoom', value: 2 }, background: 'white' }).render().asPng();
}
