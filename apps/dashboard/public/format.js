// Small formatting helpers shared by the panels.

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });

export function count(value) {
  return typeof value === 'number' && Number.isFinite(value) ? integer.format(value) : '–';
}

export function rate(perSecond) {
  if (!(perSecond > 0)) return '0/s';
  return perSecond >= 10 ? `${Math.round(perSecond)}/s` : `${perSecond.toFixed(1)}/s`;
}

/** Milliseconds as µs, ms or s, two significant figures or so. */
export function duration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** HH:MM:SS.mmm in local time. */
export function clock(at) {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

export function bytes(size) {
  if (size < 1024) return `${size} B`;
  const [value, unit] = size < 1024 * 1024 ? [size / 1024, 'KiB'] : [size / 1024 / 1024, 'MiB'];
  return `${value.toFixed(1).replace(/\.0$/, '')} ${unit}`;
}

/** A payload on one line (pretty JSON folded), for lists. */
export function oneLine(text) {
  return text.replace(/\s*\n\s*/g, ' ');
}

export function protocolName(version) {
  return version === 5 ? 'MQTT 5' : version === 4 ? 'MQTT 3.1.1' : version === 3 ? 'MQTT 3.1' : `MQTT v${version}`;
}
