/** Error texts for log lines; never throws, whatever was thrown. */

/** An error's message, with the details of Nest's HTTP-style exceptions (e.g. ValidationPipe's constraints). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return safeString(error);
  const response = (error as Error & { getResponse?: () => unknown }).getResponse?.();
  const details = typeof response === 'object' && response !== null ? (response as { message?: unknown }).message : undefined;
  if (Array.isArray(details)) return `${error.message}: ${details.join('; ')}`;
  if (typeof details === 'string' && details !== error.message) return `${error.message}: ${details}`;
  return error.message;
}

/** `String(value)`, except that it never throws (`Object.create(null)`, a throwing `toString`). */
export function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A value for an error message: JSON where it has one (`"1"`, `3`, `null`), else its string form (`10n` as `10`). Never throws. */
export function showValue(value: unknown): string {
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // a BigInt or a cycle
  }
  return safeString(value);
}
