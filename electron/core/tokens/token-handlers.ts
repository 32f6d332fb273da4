import { ModulePath } from '../../../shared/tokens';
import type { FactorProofs } from '../custodians/factor-proofs';
import { CustosError } from '../errors';
import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import type { TokenService } from './token-service';

type TokenChannel = 'tokens.status' | 'tokens.mechanisms' | 'tokens.select' | 'settings.setModule';

export const tokenPlan: AuditPlans<TokenChannel> = {
  'tokens.status': { action: 'token.list', self: false, params: false },
  'tokens.mechanisms': { action: 'token.mechanisms', self: false, params: true },
  'tokens.select': { action: 'token.select', self: true, params: true },
  'settings.setModule': { action: 'settings.module.set', self: true, params: false, selfFailures: FACTOR_FAILURES },
};

export function tokenHandlers({
  tokens,
  proveOfficer,
  pickModule,
}: {
  tokens: TokenService;
  proveOfficer: FactorProofs['proveOfficer'];
  /** Asks the security officer, in main, for the PKCS#11 library; absent where nobody can be asked. */
  pickModule: (() => Promise<string | null>) | undefined;
}): Pick<Handlers, TokenChannel> {
  /** The library the officer chose in main; nothing is loaded when they chose none. */
  const pickModulePath = async (): Promise<string> => {
    const picked = pickModule ? await pickModule() : null;
    if (picked === null) {
      throw new CustosError(
        'MODULE_NOT_CHOSEN',
        'No PKCS#11 library was chosen, so the token module was not changed.',
        [
          pickModule
            ? 'Choose the vendor’s library file in the dialog.'
            : 'This Custos cannot ask for a library here: use `custos module set PATH` with the officer’s factors.',
        ],
      );
    }
    const path = ModulePath.safeParse(picked);
    if (!path.success)
      throw new CustosError('MODULE_UNSAFE', 'The chosen library path is not a usable file path.', [
        'Choose the library file again.',
      ]);
    return path.data;
  };
  return {
    'tokens.status': () => tokens.refresh(),
    'tokens.mechanisms': (ref) => tokens.mechanisms(ref),
    'tokens.select': (ref) => tokens.select(ref),
    'settings.setModule': async ({ source, officer }) => {
      const by = await proveOfficer(officer, 'choose the token module');
      return tokens.setModule(source === 'built-in' ? null : await pickModulePath(), by);
    },
  };
}
