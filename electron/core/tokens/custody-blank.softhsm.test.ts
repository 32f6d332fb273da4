import { describe } from 'vitest';
import { softHsm } from '../testing/token-backends';
import { blankTokenSuite } from '../testing/token-suite';

describe('token suite on SoftHSM2: a blank token', () => blankTokenSuite(softHsm));
