// Batched, ragged decoding on the reference backend (the oracle's own backend): test/batched-decode.ts.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { batchedDecodeSuite } from '../lib/batched-decode.ts';

batchedDecodeSuite('reference', () => new ReferenceBackend());
