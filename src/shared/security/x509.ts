// @peculiar/x509 finds its algorithms through tsyringe, which refuses to load without the
// Reflect metadata API: the polyfill must run before the library is loaded.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The library signs and hashes through a WebCrypto provider; Node's is native and fast.
x509.cryptoProvider.set(webcrypto);

/** The @peculiar/x509 library, ready to use under Node: import it from here, never directly. */
export { x509 };
