// The argument checks of src/backend/checks.ts on the reference backend (the WASM and WebGPU backends run
// the same cases in their conformance suites).
import { ReferenceBackend } from '../../src/backend/reference/reference.ts';
import { argumentChecks } from '../lib/conformance.ts';

argumentChecks('reference', () => new ReferenceBackend());
