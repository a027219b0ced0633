/**
 * Whether a handler returned something to wait for: a Promise or any thenable (Bluebird, an RxJS
 * `firstValueFrom` result, a hand-written `{ then }`). One rule for message and client-event handlers.
 */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
