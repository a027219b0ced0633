/** Appends to array metadata on a method, so a decorator can be stacked several times. */
export function appendMethodMetadata<T>(key: symbol, value: T, method: object): void {
  const existing = Reflect.getOwnMetadata(key, method) as T[] | undefined;
  Reflect.defineMetadata(key, existing ? [...existing, value] : [value], method);
}
