export * from './mqtt-message.interface.js';
export * from './mqtt-handler.interface.js';
