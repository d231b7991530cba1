import {identityKey} from '../images/names.js'

/**
 * True when a `get` argument is a pattern rather than a name: it holds `*` or `?`, which no stored name can
 * (the name rules refuse them). `[...]` is a class only inside such a pattern, so a name like `a[1].png` stays a
 * name.
 */
export function isNamePattern(argument: string): boolean {
  return /[*?]/u.test(argument)
}

/**
 * A shell-style pattern (`*` any run, `?` one character, `[abc]`, `[a-z]`, `[!abc]` or `[^abc]` one of or none
 * of, `\x` a literal x) as a test of stored names, compared as names are: on identity keys (NFC, case-folded),
 * so `*.JPG` matches cat.jpg and `É*` matches école.png. Throws an Error for an unclosed `[`.
 */
export function namePattern(pattern: string): (name: string) => boolean {
  const source = identityKey(pattern)
  let regex = ''
  const chars = [...source]
  for (let index = 0; index < chars.length; index++) {
    const char = chars[index]
    if (char === '*') regex += '.*'
    else if (char === '?') regex += '.'
    else if (char === '\\' && index + 1 < chars.length) regex += escape(chars[++index])
    else if (char === '[') {
      const close = chars.indexOf(']', index + 2)
      if (close === -1) throw new Error(`${pattern}: '[' without its ']'`)
      let body = chars.slice(index + 1, close)
      const negated = body[0] === '!' || body[0] === '^'
      if (negated) body = body.slice(1)
      const members = body.map((member, at) => {
        if (member === '-') return at > 0 && at < body.length - 1 ? '-' : '\\-'
        return escape(member)
      })
      regex += `[${negated ? '^' : ''}${members.join('')}]`
      index = close
    } else regex += escape(char)
  }
  const compiled = new RegExp(`^${regex}$`, 'su')
  return (name) => compiled.test(identityKey(name))
}

function escape(char: string): string {
  return /[\\^$.*+?()[\]{}|/]/u.test(char) ? `\\${char}` : char
}
