import type { ModuleKind } from '../../../shared/tokens';
import type { CustosError } from '../errors';
import { checkModulePath, TokenModule } from './token-module';

/**
 * The PKCS#11 libraries loaded in this process. A library may be initialised only once per
 * process, and the custody tokens and the audit token can live behind the same library (the
 * embedded SoftHSM2), so users share one TokenModule and the last one out finalises it.
 */
export class ModuleHost {
  private readonly loaded = new Map<string, { module: TokenModule; users: number }>();

  constructor(private readonly reportCleanupError: (error: CustosError) => void = () => {}) {}

  acquire(requested: string, kind: ModuleKind): TokenModule {
    const path = checkModulePath(requested);
    const entry = this.loaded.get(path);
    if (entry) {
      entry.users += 1;
      return entry.module;
    }
    const module = TokenModule.open(path, kind, this.reportCleanupError);
    this.loaded.set(path, { module, users: 1 });
    return module;
  }

  release(module: TokenModule): void {
    const entry = this.loaded.get(module.path);
    if (!entry || entry.module !== module) return;
    entry.users -= 1;
    if (entry.users <= 0) {
      this.loaded.delete(module.path);
      module.close();
    }
  }

  /** How many parts of Custos hold this library; a reload is only safe when it is one. */
  users(path: string): number {
    try {
      return this.loaded.get(checkModulePath(path))?.users ?? 0;
    } catch {
      return 0;
    }
  }

  closeAll(): void {
    for (const { module } of this.loaded.values()) module.close();
    this.loaded.clear();
  }
}
