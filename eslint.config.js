// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'libs/mqtt/dist/**', 'coverage/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@nestjs/*/*', '!@nestjs/*/package.json'], message: 'No deep imports from @nestjs internals.' }] },
      ],
    },
  },
  {
    // Type-aware rules for promises: a promise nobody awaits or handles is how a rejection crashes the process.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    files: ['**/*.js'],
    ignores: ['apps/dashboard/public/**'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
  },
  {
    // The dashboard page: plain ES modules loaded by the browser (no build step), so browser globals and no Node.
    files: ['apps/dashboard/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'console', 'URL', 'URLSearchParams', 'ResizeObserver', 'TextEncoder', 'setTimeout', 'clearTimeout'].map((name) => [
          name,
          'readonly',
        ]),
      ),
    },
  },
);
