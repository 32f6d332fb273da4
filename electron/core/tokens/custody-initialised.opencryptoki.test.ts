import { describeOnOpencryptoki } from '../testing/opencryptoki-fixture';
import { opencryptoki } from '../testing/token-backends';
import { initialisedTokenSuite } from '../testing/token-suite';

describeOnOpencryptoki('token suite on opencryptoki: a initialised token', () => initialisedTokenSuite(opencryptoki));
