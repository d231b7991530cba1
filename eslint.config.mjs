import oclif from 'eslint-config-oclif'
import prettier from 'eslint-config-prettier'

export default [
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'plugins/*/dist/**',
      'plugins/*/node_modules/**',
      'plugins/*/oclif.manifest.json',
      'coverage/**',
      'bench/results/**',
    ],
  },
  ...oclif,
  prettier,
  {
    rules: {
      // Protocol code works on bytes: bit operations, hex literals and escapes are its vocabulary.
      'no-bitwise': 'off',
      'unicorn/number-literal-case': 'off',
      'unicorn/numeric-separators-style': 'off',
      'unicorn/prefer-math-trunc': 'off',
      'unicorn/prefer-unicode-code-point-escapes': 'off',
      'unicorn/escape-case': 'off',
      'unicorn/prefer-string-raw': 'off',
      'unicorn/text-encoding-identifier-case': 'off',
      // Python's None is the protocol's null, and Node's Buffer is what sockets and files hand us.
      'unicorn/no-null': 'off',
      '@typescript-eslint/no-restricted-types': 'off',
      'n/prefer-global/buffer': 'off',
      'n/prefer-global/process': 'off',
      // The `v` flag needs an ES2024 target; the `u` flag is used where code points matter.
      'require-unicode-regexp': 'off',
      // Sequential awaits are how backpressure and ordered answers are written.
      'no-await-in-loop': 'off',
      'unicorn/no-array-reduce': 'off',
      'unicorn/prefer-event-target': 'off',
      'unicorn/no-process-exit': 'off',
      'n/no-process-exit': 'off',
      'unicorn/max-nested-calls': 'off',
      'unicorn/no-array-sort': 'off',
      'unicorn/consistent-boolean-name': 'off',
      'unicorn/no-break-in-nested-loop': 'off',
      'unicorn/import-style': 'off',
      'unicorn/consistent-class-member-order': 'off',
      'unicorn/prefer-iterator-to-array': 'off',
      'unicorn/prefer-simple-condition-first': 'off',
      'unicorn/no-duplicate-loops': 'off',
      'unicorn/no-array-callback-reference': 'off',
      'unicorn/no-unnecessary-splice': 'off',
      'unicorn/switch-case-braces': 'off',
      // Ordering rules fight the order that reads best (wire order, seed key order, state-machine order).
      'perfectionist/sort-classes': 'off',
      'perfectionist/sort-objects': 'off',
      'perfectionist/sort-object-types': 'off',
      'perfectionist/sort-interfaces': 'off',
      'perfectionist/sort-union-types': 'off',
      'perfectionist/sort-modules': 'off',
      'perfectionist/sort-switch-case': 'off',
      'perfectionist/sort-maps': 'off',
      'perfectionist/sort-exports': 'off',
      'perfectionist/sort-named-imports': 'off',
      'perfectionist/sort-named-exports': 'off',
      'perfectionist/sort-imports': 'off',
      'perfectionist/sort-array-includes': 'off',
      '@stylistic/padding-line-between-statements': 'off',
      '@typescript-eslint/consistent-type-definitions': 'off',
      '@typescript-eslint/strict-void-return': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      'jsdoc/no-undefined-types': 'off',
      'prefer-destructuring': 'off',
      'unicorn/no-object-as-default-parameter': 'off',
      'max-params': 'off',
      complexity: 'off',
      'no-warning-comments': 'off',
    },
  },
  {
    // Plain CommonJS scripts run by Node directly (entry points, benchmarks, tools, test fixtures).
    files: ['bin/**/*.js', 'bench/**/*.js', 'scripts/**/*.js', 'test/fixtures/**/*.js'],
    rules: {
      'unicorn/prefer-module': 'off',
      'unicorn/prefer-top-level-await': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      'n/no-unpublished-require': 'off',
    },
  },
  {
    // Tests: inline helpers, chai's property assertions and deliberately loose types of hostile input.
    files: ['test/**/*.ts', 'plugins/*/test/**/*.ts'],
    rules: {
      'no-unused-expressions': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-empty-function': 'off',
      'max-nested-callbacks': 'off',
      'mocha/no-setup-in-describe': 'off',
      'no-promise-executor-return': 'off',
      'no-return-assign': 'off',
    },
  },
  {
    // Compiled to CommonJS: __dirname and lazy require() are its module system, and it has no top-level await.
    files: ['src/**/*.ts', 'test/**/*.ts', 'plugins/*/src/**/*.ts', 'plugins/*/test/**/*.ts'],
    rules: {'unicorn/prefer-module': 'off', 'unicorn/prefer-top-level-await': 'off'},
  },
  {
    // Plugins get `image-sharing-service` from the host at run time (host-resolution.ts), not from their node_modules.
    files: ['plugins/**/*.ts', 'test/fixtures/plugins/**/*.js'],
    rules: {
      'import-x/no-unresolved': ['error', {ignore: ['^image-sharing-service(/|$)']}],
      'n/no-missing-require': ['error', {allowModules: ['image-sharing-service']}],
    },
  },
  {
    // A plugin's tests run from the host checkout, with the host's devDependencies (chai, mocha).
    files: ['plugins/*/test/**/*.ts'],
    rules: {'import-x/no-extraneous-dependencies': 'off', 'n/no-extraneous-import': 'off'},
  },
  {
    // Cases generated in a loop (for ... it(...)) read the suite's state, set by its hooks, when they run: on purpose.
    files: ['test/**/*.ts', 'plugins/*/test/**/*.ts'],
    rules: {'@typescript-eslint/no-loop-func': 'off'},
  },
  {
    // ESLint's documented flat-config form is an anonymous default export.
    files: ['eslint.config.mjs'],
    rules: {'import-x/no-anonymous-default-export': 'off'},
  },
]
