export { startEmbeddedBroker, createTestBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from './embedded-broker.js';
