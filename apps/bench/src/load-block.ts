/** The load figure's block in BENCHMARKS.md: `npm run load` owns it, `npm run bench` carries it over when it rewrites the file. */
export const LOAD_START = '<!-- load:start -->';
export const LOAD_END = '<!-- load:end -->';

/** The block with its markers, or undefined when the text has none. */
export function extractLoadBlock(text: string): string | undefined {
  const start = text.indexOf(LOAD_START);
  const end = text.indexOf(LOAD_END, start);
  return start >= 0 && end >= 0 ? text.slice(start, end + LOAD_END.length) : undefined;
}

/** `text` with its block replaced by `block` (markers included), or with `block` appended when it has none. */
export function replaceLoadBlock(text: string, block: string): string {
  const old = extractLoadBlock(text);
  if (old !== undefined) return text.replace(old, () => block);
  return text.trim() ? `${text.trimEnd()}\n\n${block}\n` : `${block}\n`;
}
