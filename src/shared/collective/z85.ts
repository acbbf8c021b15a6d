/**
 * Z85 (ZeroMQ RFC 32), the text form of CURVE keys. zeromq.js hands keys out as Z85 strings
 * but passes a ZAP handler the client's key as 32 raw bytes and exports no codec, so the
 * handler decodes its allow-list with this one.
 */

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));

/**
 * Decodes a Z85 string into its bytes, or returns null when it is not Z85: a length that is not
 * a multiple of 5, a character outside the alphabet, or a group above 2^32 - 1.
 */
export function decodeZ85(text: string): Buffer | null {
  if (text.length % 5 !== 0) return null;
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let group = 0; group < text.length / 5; group++) {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const digit = VALUE.get(text[group * 5 + i]);
      if (digit === undefined) return null;
      value = value * 85 + digit;
    }
    // Five base-85 digits reach 85^5 - 1 > 2^32 - 1; such a group encodes no 4 bytes.
    if (value > 0xffff_ffff) return null;
    out.writeUInt32BE(value, group * 4);
  }
  return out;
}
