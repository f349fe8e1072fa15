// The model on the reference backend against PyTorch (test/portable/torch-fixtures.ts has the suite and
// its tolerances); the WASM and WebGPU backends run the same suite in their own test files.
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { fixtureSuite } from '../lib/torch-fixtures.ts';

fixtureSuite('reference', () => new ReferenceBackend());
