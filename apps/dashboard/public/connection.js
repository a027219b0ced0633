// The socket.io connection to the dashboard's gateway (apps/dashboard/src/protocol.ts is the contract), and the
// token the gateway asks for when it listens on a non-loopback address.
import { io } from 'socket.io-client';

const TOKEN_KEY = 'nestjs-mqtt-dashboard-token';
const ACK_TIMEOUT_MS = 10_000;
/** What the gateway answers when it wants a token (its middleware's error messages). */
const TOKEN_ERRORS = new Set(['token required', 'invalid token']);
/** The token when sessionStorage is unavailable. */
let memoryToken;

/** A `?token=` in the address is kept for this tab (sessionStorage) and taken out of the address bar. */
export function takeTokenFromUrl() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (token === null) return;
  if (token) saveToken(token);
  url.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
}

export function readToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function saveToken(token) {
  try {
    window.sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage off (private mode): the token lasts until the page reloads.
  }
  memoryToken = token;
}

/**
 * Connects and reports through the callbacks: `onState({ socket, error })` where socket is 'connecting',
 * 'connected', 'disconnected' or 'token' (the gateway wants a token; error says which), `onHello(hello)`,
 * `onSnapshot(snapshot)`, `onMessages(batch)`. Returns `{ request(event, body), useToken(token) }`.
 */
export function connect({ onState, onHello, onSnapshot, onMessages }) {
  takeTokenFromUrl();
  const socket = io({
    // A function: read again on every (re)connection, so a token typed in later is sent.
    auth: (send) => {
      const token = readToken() ?? memoryToken;
      send(token ? { token } : {});
    },
  });

  onState({ socket: 'connecting', error: undefined });
  socket.on('connect', () => onState({ socket: 'connected', error: undefined }));
  socket.on('disconnect', (reason) => {
    // 'io server disconnect': the gateway closed it and socket.io will not retry on its own.
    if (reason === 'io server disconnect') socket.connect();
    onState({ socket: 'disconnected', error: reason });
  });
  socket.io.on('reconnect_attempt', () => onState({ socket: 'connecting', error: undefined }));
  socket.on('connect_error', (error) => {
    if (TOKEN_ERRORS.has(error.message)) onState({ socket: 'token', error: error.message });
    else onState({ socket: 'disconnected', error: error.message });
  });
  socket.on('hello', onHello);
  socket.on('snapshot', onSnapshot);
  socket.on('messages', onMessages);

  return {
    /** Sends a page request; resolves with the gateway's reply, or `{ ok: false, error }` when there is none. */
    request(event, body) {
      if (!socket.connected) return Promise.resolve({ ok: false, error: 'not connected to the dashboard server' });
      return new Promise((resolve) => {
        socket.timeout(ACK_TIMEOUT_MS).emit(event, body, (error, reply) => {
          if (error) resolve({ ok: false, error: 'the dashboard server did not answer' });
          else if (!reply || typeof reply !== 'object') resolve({ ok: false, error: 'the dashboard server sent no reply' });
          else resolve(reply);
        });
      });
    },
    /** Retries the connection with a token the user typed in. */
    useToken(token) {
      saveToken(token);
      onState({ socket: 'connecting', error: undefined });
      if (socket.connected) socket.disconnect();
      socket.connect();
    },
  };
}
