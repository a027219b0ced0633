/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

// swc emits ES modules with legacy decorators and design:* metadata, which Nest's DI needs.
const transform: Config['transform'] = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'es6' },
      sourceMaps: 'inline',
    },
  ],
};

const shared: Config = {
  transform,
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^nestjs-mqtt$': '<rootDir>/libs/mqtt/src/index.ts',
    '^nestjs-mqtt/testing$': '<rootDir>/libs/mqtt/src/testing/index.ts',
    '^nestjs-mqtt/terminus$': '<rootDir>/libs/mqtt/src/terminus/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

const config: Config = {
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'] },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/fixtures/binaries.ts',
      globalTeardown: '<rootDir>/test/support/reliability-report.ts',
    },
  ],
  maxWorkers: 2,
  testTimeout: 30_000,
};

export default config;
