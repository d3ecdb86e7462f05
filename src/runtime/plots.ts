/**
 * Plots as standalone SVG text: a spike raster and line plots of traces. Hand
 * written because the needs are small (axes, ticks, labels, points, lines) and
 * an SVG file needs no browser or native library to produce.
 */

const WIDTH = 900;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 20, top: 36, bottom: 50 };
const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
];

function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

interface Axes {
  readonly x: (v: number) => number;
  readonly y: (v: number) => number;
  readonly svg: string[];
}

/** A plot area `height` pixels high from `top`: frame, ticks and labels (the x label when given). */
function panel(
  top: number,
  height: number,
  xLabel: string | undefined,
  yLabel: string,
  xRange: [number, number],
  yRange: [number, number],
): Axes {
  const [x0, x1] = xRange;
  const [y0, y1] = yRange[1] > yRange[0] ? yRange : [yRange[0] - 1, yRange[0] + 1];
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const x = (v: number): number => MARGIN.left + ((v - x0) / (x1 - x0 || 1)) * plotW;
  const y = (v: number): number => top + height - ((v - y0) / (y1 - y0)) * height;
  const svg = [
    `<rect x="${MARGIN.left}" y="${top}" width="${plotW}" height="${height}" fill="none" stroke="#333"/>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    svg.push(
      `<line x1="${x(t)}" y1="${top + height}" x2="${x(t)}" y2="${top + height + 5}" stroke="#333"/>`,
    );
    svg.push(`<text x="${x(t)}" y="${top + height + 18}" text-anchor="middle">${t}</text>`);
  }
  for (const t of niceTicks(y0, y1, height < 200 ? 3 : 6)) {
    svg.push(
      `<line x1="${MARGIN.left - 5}" y1="${y(t)}" x2="${MARGIN.left}" y2="${y(t)}" stroke="#333"/>`,
    );
    svg.push(`<text x="${MARGIN.left - 8}" y="${y(t) + 4}" text-anchor="end">${t}</text>`);
  }
  if (xLabel !== undefined)
    svg.push(
      `<text x="${MARGIN.left + plotW / 2}" y="${top + height + 40}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    );
  svg.push(
    `<text transform="translate(16 ${top + height / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );
  return { x, y, svg };
}

/** An SVG document `height` pixels high with a title: its opening lines. */
function svgDocument(title: string, height: number): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ];
}

/** One plot filling the standard figure. */
function axes(
  title: string,
  xLabel: string,
  yLabel: string,
  xRange: [number, number],
  yRange: [number, number],
): Axes {
  const height = HEIGHT - MARGIN.top - MARGIN.bottom;
  const a = panel(MARGIN.top, height, xLabel, yLabel, xRange, yRange);
  return { ...a, svg: [...svgDocument(title, HEIGHT), ...a.svg] };
}

export interface RasterGroup {
  readonly name: string;
  readonly size: number;
  /** Spike times (ms) and indices, same length. */
  readonly times: readonly number[];
  readonly indices: readonly number[];
  /** The population's rate (Hz) in consecutive bins of binMs from 0: the panel under the raster. */
  readonly rate?: { readonly binMs: number; readonly hz: ArrayLike<number> };
}

/** Pixels of the rate panel under a raster. */
const RATE_HEIGHT = 110;

/**
 * A raster plot: one dot per spike, populations stacked on the y axis; under it, when the
 * groups carry rates, each population's rate over time (as Brian2's and BrainPy's examples
 * show them).
 */
export function rasterSvg(
  title: string,
  groups: readonly RasterGroup[],
  durationMs: number,
): string {
  const total = groups.reduce((n, g) => n + g.size, 0);
  const rasterHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const withRates = groups.some((g) => g.rate !== undefined);
  const height = HEIGHT + (withRates ? RATE_HEIGHT + 30 : 0);
  const a = panel(
    MARGIN.top,
    rasterHeight,
    withRates ? undefined : 'time (ms)',
    'neuron index',
    [0, durationMs],
    [0, Math.max(1, total)],
  );
  const svg = [...svgDocument(title, height), ...a.svg];
  // Large rasters are thinned to at most this many dots so the file stays viewable.
  const maxDots = 200_000;
  const spikes = groups.reduce((n, g) => n + g.times.length, 0);
  const stride = Math.max(1, Math.ceil(spikes / maxDots));
  let offset = 0;
  groups.forEach((g, k) => {
    const color = COLORS[k % COLORS.length]!;
    const dots: string[] = [];
    for (let i = 0; i < g.times.length; i += stride) {
      dots.push(
        `M${a.x(g.times[i]!).toFixed(1)} ${a.y(offset + g.indices[i]! + 0.5).toFixed(1)}h1`,
      );
    }
    svg.push(
      `<path d="${dots.join('')}" stroke="${color}" stroke-width="1.6" fill="none"><title>${escapeXml(g.name)}</title></path>`,
    );
    svg.push(
      `<text x="${WIDTH - MARGIN.right - 4}" y="${MARGIN.top + 14 + 14 * k}" text-anchor="end" fill="${color}">${escapeXml(g.name)} (${g.size})</text>`,
    );
    offset += g.size;
  });
  if (stride > 1)
    svg.push(
      `<text x="${MARGIN.left + 4}" y="${MARGIN.top + 14}">every ${stride}th spike shown</text>`,
    );
  if (withRates) svg.push(...ratePanel(groups, durationMs, MARGIN.top + rasterHeight + 30));
  svg.push('</svg>');
  return svg.join('\n');
}

/** Each group's rate as a step line, in a panel from `top`. */
function ratePanel(groups: readonly RasterGroup[], durationMs: number, top: number): string[] {
  let peak = 0;
  for (const g of groups)
    for (let i = 0; i < (g.rate?.hz.length ?? 0); i++) peak = Math.max(peak, g.rate!.hz[i]!);
  const a = panel(
    top,
    RATE_HEIGHT,
    'time (ms)',
    'rate (Hz)',
    [0, durationMs],
    [0, peak * 1.05 || 1],
  );
  groups.forEach((g, k) => {
    if (g.rate === undefined) return;
    const { binMs, hz } = g.rate;
    const points: string[] = [];
    for (let i = 0; i < hz.length; i++) {
      const y = a.y(hz[i]!).toFixed(1);
      points.push(
        `${a.x(i * binMs).toFixed(1)},${y}`,
        `${a.x(Math.min(durationMs, (i + 1) * binMs)).toFixed(1)},${y}`,
      );
    }
    a.svg.push(
      `<polyline points="${points.join(' ')}" fill="none" stroke="${COLORS[k % COLORS.length]!}" stroke-width="1"><title>${escapeXml(g.name)} rate</title></polyline>`,
    );
  });
  return a.svg;
}

export interface TraceSeries {
  readonly label: string;
  readonly values: ArrayLike<number>;
}

/** Line plot of traces sampled at the times given. */
export function traceSvg(
  title: string,
  yLabel: string,
  times: ArrayLike<number>,
  series: readonly TraceSeries[],
): string {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series)
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i]!;
      if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    }
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  const pad = (hi - lo) * 0.05 || 1;
  const a = axes(
    title,
    'time (ms)',
    yLabel,
    [times[0] ?? 0, times[times.length - 1] ?? 1],
    [lo - pad, hi + pad],
  );
  const stride = Math.max(1, Math.ceil(times.length / 4000));
  series.forEach((s, k) => {
    const points: string[] = [];
    for (let i = 0; i < times.length; i += stride) {
      const v = s.values[i];
      if (v !== undefined && Number.isFinite(v))
        points.push(`${a.x(times[i]!).toFixed(1)},${a.y(v).toFixed(1)}`);
    }
    const color = COLORS[k % COLORS.length]!;
    a.svg.push(
      `<polyline points="${points.join(' ')}" fill="none" stroke="${color}" stroke-width="1"><title>${escapeXml(s.label)}</title></polyline>`,
    );
    if (series.length <= 10)
      a.svg.push(
        `<text x="${WIDTH - MARGIN.right - 4}" y="${MARGIN.top + 14 + 14 * k}" text-anchor="end" fill="${color}">${escapeXml(s.label)}</text>`,
      );
  });
  a.svg.push('</svg>');
  return a.svg.join('\n');
}
