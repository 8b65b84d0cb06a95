// ESLint (flat config): typescript-eslint's type-checked rules on everything that is TypeScript,
// plus a local rule that refuses a dropped neverthrow Result. Formatting is Prettier's job.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import noUnusedResult from './eslint-rules/no-unused-result.js';

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', '.tmp/', 'benchmarks/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { local: { rules: { 'no-unused-result': noUnusedResult } } },
    rules: {
      'local/no-unused-result': 'error',
      // node:test's describe/it/test return promises the runner itself tracks.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // An abort reason or a caught value is passed on as it came (AbortSignal.reason is `any`).
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
      // Driver operations are async by contract (a throw must become a rejection) even without an await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Compile-only type tests: they call what must not compile (@ts-expect-error) and never run.
    files: ['test/types/**'],
    rules: {
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unused-vars': 'off',
      'local/no-unused-result': 'off',
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'local/no-unused-result': 'off' },
  },
);
