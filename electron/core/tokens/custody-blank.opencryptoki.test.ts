import { describeOnOpencryptoki } from '../testing/opencryptoki-fixture';
import { opencryptoki } from '../testing/token-backends';
import { blankTokenSuite } from '../testing/token-suite';

describeOnOpencryptoki('token suite on opencryptoki: a blank token', () => blankTokenSuite(opencryptoki));
