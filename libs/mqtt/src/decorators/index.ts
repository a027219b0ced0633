export * from './on-topic.decorator.js';
export * from './on-event.decorators.js';
export * from './param.decorators.js';
export * from './inject-mqtt.decorator.js';
