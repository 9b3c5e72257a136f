/** A tiny hand-written SVG chart: horizontal bar groups, no dependencies. */

export interface Bar {
  label: string;
  value: number;
  color: string;
  /** Text after the bar (default: the value rounded). */
  text?: string;
}

export interface Panel {
  title: string;
  unit: string;
  groups: { label: string; bars: Bar[] }[];
  /** Optional vertical reference lines (e.g. a target). */
  marks?: { value: number; label: string; color: string }[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function renderSvg(title: string, panels: Panel[], legend: { label: string; color: string }[]): string {
  const W = 860;
  const labelW = 250;
  const barH = 13;
  const gap = 3;
  const groupGap = 10;
  const plotW = W - labelW - 90;
  let y = 40;
  const parts: string[] = [];
  parts.push(`<text x="16" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  // legend
  let lx = 16;
  for (const l of legend) {
    const w = 22 + l.label.length * 6.2;
    if (lx + w > W - 8 && lx > 16) {
      lx = 16;
      y += 16;
    }
    parts.push(`<rect x="${lx}" y="${y - 10}" width="12" height="12" fill="${l.color}"/>`);
    parts.push(`<text x="${lx + 16}" y="${y}" font-size="11">${esc(l.label)}</text>`);
    lx += w;
  }
  y += 18;
  for (const p of panels) {
    y += 14;
    parts.push(`<text x="16" y="${y}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    y += 8;
    const max =
      Math.max(...p.groups.flatMap((g) => g.bars.map((b) => b.value)), ...(p.marks ?? []).map((m) => m.value), 1e-9) *
      1.05;
    const top = y;
    for (const g of p.groups) {
      const gh = g.bars.length * (barH + gap);
      parts.push(
        `<text x="${labelW - 8}" y="${y + gh / 2 + 4}" font-size="11" text-anchor="end">${esc(g.label)}</text>`,
      );
      for (const b of g.bars) {
        const w = Math.max(1, (b.value / max) * plotW);
        parts.push(
          `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}"><title>${esc(b.label)}: ${esc(b.text ?? String(Math.round(b.value)))} ${esc(p.unit)}</title></rect>`,
        );
        parts.push(
          `<text x="${(labelW + w + 4).toFixed(1)}" y="${y + barH - 3}" font-size="10">${esc(b.text ?? Math.round(b.value).toLocaleString("en-US"))}</text>`,
        );
        y += barH + gap;
      }
      y += groupGap;
    }
    for (const m of p.marks ?? []) {
      const x = labelW + (m.value / max) * plotW;
      parts.push(
        `<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${y - groupGap}" stroke="${m.color}" stroke-dasharray="4 3"/>`,
      );
      parts.push(
        `<text x="${(x + 3).toFixed(1)}" y="${top + 4}" font-size="10" fill="${m.color}">${esc(m.label)}</text>`,
      );
    }
    parts.push(`<line x1="${labelW}" y1="${top - 4}" x2="${labelW}" y2="${y - groupGap}" stroke="#333"/>`);
    parts.push(`<text x="${labelW + plotW}" y="${y + 2}" font-size="10" text-anchor="end">${esc(p.unit)}</text>`);
    y += 16;
  }
  const H = y + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="${W}" height="${H}" fill="white"/>\n${parts.join("\n")}\n</svg>\n`;
}
