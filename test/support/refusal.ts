/** The error `check` throws, or undefined when it returns: for specs that assert on a refusal's class and text. */
export function refusal(check: () => unknown): Error | undefined {
  try {
    check();
  } catch (error) {
    return error as Error;
  }
  return undefined;
}
