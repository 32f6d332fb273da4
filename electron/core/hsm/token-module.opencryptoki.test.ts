import { beforeAll, expect, it } from 'vitest';
import { describeOnOpencryptoki, OPENCRYPTOKI_MODULE, resetOpencryptoki } from '../testing/opencryptoki-fixture';
import { TokenModule } from './token-module';

describeOnOpencryptoki('opencryptoki software token through TokenModule', () => {
  beforeAll(() => {
    resetOpencryptoki();
  });

  it('loads the library and lists its blank software token by serial and label', () => {
    const module = TokenModule.open(OPENCRYPTOKI_MODULE, 'configured');
    const token = module.slots().find((slot) => slot.token?.model === 'IBM SoftTok')?.token;
    expect(token).toMatchObject({ serial: '123', initialized: false, minPinLength: 4, maxPinLength: 8 });
    expect(module.mechanisms({ serial: token!.serial, label: token!.label }).map((m) => m.name)).toContain('CKM_RSA_PKCS');
  });
});
