import {expect} from 'chai'

import {isNamePattern, namePattern} from '../../src/core/batch/name-pattern.js'

describe('get patterns: shell-style, compared as names are (NFC, case-folded)', () => {
  const cases: Array<[pattern: string, name: string, matches: boolean]> = [
    ['*.png', 'cat.png', true],
    ['*.png', 'cat.jpg', false],
    ['*.JPG', 'Cat.jpg', true],
    ['cat-?.jpg', 'cat-1.jpg', true],
    ['cat-?.jpg', 'cat-12.jpg', false],
    ['É*', 'école.png', true],
    // NFC on both sides: a decomposed é in the pattern matches the composed one stored.
    ['e\u0301cole*', '\u00E9cole.png', true],
    ['*ſ*', 'S.png', true], // long s folds to s
    ['[a-c]*', 'bird.png', true],
    ['[a-c]*', 'dog.png', false],
    ['[!a-c]*', 'dog.png', true],
    ['[^a-c]*', 'bird.png', false],
    ['a[-b]*', 'a-x.png', true],
    ['\\[x]*', '[x]1.png', true],
    ['[]]*', '].png', true],
    ['*.p?g', 'cat.png', true],
    ['*.p.g', 'cat.png', false], // '.' is a dot, not any character
    ['*(1).png', 'cat(1).png', true],
    ['*.png', 'cat.png\nx.png', true], // a name never holds a newline; '*' still spans any character
  ]
  for (const [pattern, name, matches] of cases) {
    it(`${JSON.stringify(pattern)} ${matches ? 'matches' : 'does not match'} ${JSON.stringify(name)}`, () => {
      expect(namePattern(pattern)(name)).to.equal(matches)
    })
  }

  it('a regular-expression character in a pattern is literal', () => {
    expect(namePattern('a+b.png')('a+b.png')).to.equal(true)
    expect(namePattern('a+b.png')('aab.png')).to.equal(false)
    expect(namePattern('x{2}*')('xx.png')).to.equal(false)
  })

  it('an unclosed [ is refused with the pattern named', () => {
    expect(() => namePattern('[abc*')).to.throw("[abc*: '[' without its ']'")
  })

  it('only * and ? make an argument a pattern: a stored name may hold [ but never * or ?', () => {
    expect(isNamePattern('*.png')).to.equal(true)
    expect(isNamePattern('cat-?.png')).to.equal(true)
    expect(isNamePattern('a[1].png')).to.equal(false)
  })
})
