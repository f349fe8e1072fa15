// Gradient accumulation and activation recomputation on the reference backend (the suite: test/lib/accumulation.ts;
// the compiled backends run it from their own test files).
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { accumulationSuite } from '../lib/accumulation.ts';

accumulationSuite('reference', () => new ReferenceBackend());
