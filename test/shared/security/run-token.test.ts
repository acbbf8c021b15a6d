import test from 'ava';
import { CredentialsError } from '../../../src/shared/errors';
import { checkToken, newRunToken, tokenMatches } from '../../../src/shared/security/run-token';

test('a new token is 32 random bytes in base64url, and passes its own check', (t) => {
  const token = newRunToken();
  t.regex(token, /^[A-Za-z0-9_-]{43}$/);
  t.is(Buffer.from(token, 'base64url').length, 32);
  t.not(newRunToken(), token);
  t.is(checkToken(token, 'x'), token);
});

test('tokenMatches is true for the token only', (t) => {
  const token = newRunToken();
  t.true(tokenMatches(token, token));
  t.false(tokenMatches(token, undefined));
  t.false(tokenMatches(token, null));
  t.false(tokenMatches(token, ''));
  t.false(tokenMatches(token, token.slice(0, -1)));
  t.false(tokenMatches(token, `${token}x`));
  t.false(tokenMatches(token, `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`));
  t.false(tokenMatches(token, newRunToken()));
});

test('checkToken trims a file\'s newline and refuses a bad token, naming the source but never the value', (t) => {
  const token = newRunToken();
  t.is(checkToken(`${token}\n`, 'creds/token'), token);
  const bad: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['  \n', /is empty/],
    ['shortbutvalid_-', /has 15 characters; at least 22/],
    [`${token.slice(0, 30)}+/=`, /outside base64url/],
    [`${token} ${token}`, /outside base64url/],
    ['a'.repeat(600), /at most 512/],
  ];
  for (const [value, message] of bad) {
    const err = t.throws(() => checkToken(value, 'FACEFILL_TOKEN'), { instanceOf: CredentialsError, message });
    t.true(err?.message.startsWith('FACEFILL_TOKEN: '));
    if (value.trim().length > 0) t.false(err?.message.includes(value.trim().slice(0, 10)), `${err?.message} quotes the token`);
  }
});
