import oclif from 'eslint-config-oclif'
import prettier from 'eslint-config-prettier'

export default [
  {ignores: ['dist/**', 'node_modules/**', 'plugins/*/dist/**', 'plugins/*/node_modules/**', 'coverage/**', 'bench/results/**']},
  ...oclif,
  prettier,
  {
    rules: {
      // Protocol code works on bytes; bit operations and numeric literals are its vocabulary.
      'no-bitwise': 'off',
      'unicorn/number-literal-case': 'off',
      'unicorn/prefer-math-trunc': 'off',
      'unicorn/no-array-reduce': 'off',
      'unicorn/prefer-event-target': 'off',
      'no-await-in-loop': 'off',
      'perfectionist/sort-classes': 'off',
      'perfectionist/sort-objects': 'off',
      'perfectionist/sort-object-types': 'off',
      'perfectionist/sort-interfaces': 'off',
      'perfectionist/sort-union-types': 'off',
      'perfectionist/sort-modules': 'off',
      'n/no-process-exit': 'off',
      // Python's None is the protocol's null, and Node's Buffer is what sockets and files hand us.
      'unicorn/no-null': 'off',
      '@typescript-eslint/no-restricted-types': 'off',
      'n/prefer-global/buffer': 'off',
      'n/prefer-global/process': 'off',
      '@typescript-eslint/consistent-type-definitions': 'off',
      'jsdoc/no-undefined-types': 'off',
      'unicorn/numeric-separators-style': 'off',
      'perfectionist/sort-array-includes': 'off',
      'prefer-destructuring': 'off',
      'unicorn/no-object-as-default-parameter': 'off',
      'perfectionist/sort-named-imports': 'off',
      'perfectionist/sort-imports': 'off',
      'max-params': 'off',
      'complexity': 'off',
      'no-warning-comments': 'off',
      'unicorn/prefer-string-raw': 'off',
      'unicorn/text-encoding-identifier-case': 'off',
      'unicorn/no-process-exit': 'off',
    },
  },
]
