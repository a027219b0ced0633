import { Inject } from '@nestjs/common';
import { getMqttToken } from '../mqtt.tokens.js';

/** Injects the `MqttService` of a named client (`MqttModule.forRoot({ name })`); the default one without a name. */
export const InjectMqtt = (name?: string): PropertyDecorator & ParameterDecorator => Inject(getMqttToken(name));
