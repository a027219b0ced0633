/** What a share member (main.ts, a child process) tells the test over IPC. */
export type MemberReport =
  /** The app is initialised: connected, and its decorated subscription granted. */
  | { type: 'ready' }
  /** A CONNACK, with whether the broker kept the session. */
  | { type: 'connected'; sessionPresent: boolean }
  /** A SUBACK: the filters granted. */
  | { type: 'subscribed'; filters: string[] }
  /** The handler ran for the message with this sequence number; `dup` is the PUBLISH's DUP flag (a redelivery). */
  | { type: 'handled'; seq: number; dup: boolean };

/** The member's configuration, from the environment the test starts it with. */
export const MEMBER_ENV = {
  url: 'SHARE_MEMBER_URL',
  /** Absent: a generated client id. */
  clientId: 'SHARE_MEMBER_CLIENT_ID',
  /** '1': clean: false with a session expiry; otherwise a clean session. */
  durable: 'SHARE_MEMBER_DURABLE',
  willTopic: 'SHARE_MEMBER_WILL_TOPIC',
} as const;

export const SHARE_GROUP = 'workers';
export const LOAD_TOPIC = 'load';
