// Runs in every test file: when the file ends, everything it collected is scanned for planted secrets.
import { afterAll } from 'vitest';
import { scanCollected } from '../helpers/canary.js';

afterAll(() => {
  scanCollected();
});
