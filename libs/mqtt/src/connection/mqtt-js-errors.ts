/**
 * mqtt.js's message for work it failed because the connection closed: a publish dropped from its
 * queue (mqtt.js #2015), an in-flight SUBSCRIBE or UNSUBSCRIBE. The one string contract the library
 * keeps with mqtt.js; such work was never done and may be done again on the next connection.
 */
const CONNECTION_CLOSED_MESSAGE = 'Connection closed';

export function isConnectionClosed(error: Error | null | undefined): boolean {
  return error?.message === CONNECTION_CLOSED_MESSAGE;
}
