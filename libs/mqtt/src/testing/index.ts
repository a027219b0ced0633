export { startEmbeddedBroker, createTestBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded-broker.js';
export { freePort, acceptsConnections } from './ports.js';
