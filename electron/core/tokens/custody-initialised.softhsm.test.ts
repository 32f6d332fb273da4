import { describe } from 'vitest';
import { softHsm } from '../testing/token-backends';
import { initialisedTokenSuite } from '../testing/token-suite';

describe('token suite on SoftHSM2: a initialised token', () => initialisedTokenSuite(softHsm));
