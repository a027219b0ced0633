export { startEmbeddedBroker, createTestBroker, EmbeddedBrokerListenError, type EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded-broker.js';
export { freePort, acceptsConnections } from './ports.js';
