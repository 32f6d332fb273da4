import type { ModuleKind } from '../../../shared/tokens';
import type { CustosError } from '../errors';
import { checkModulePath, TokenModule } from './token-module';

/**
 * The PKCS#11 libraries loaded in this process. Each library is loaded and initialised once and
 * stays so until the process shuts down (closeAll): some libraries crash when finalised and
 * initialised again in one process (opencryptoki 3.8 does, once SoftHSM2 is loaded too), and
 * the custody tokens and the audit token can share one library (the embedded SoftHSM2).
 * Users are counted so a caller can tell who holds a library, never to unload it.
 */
export class ModuleHost {
  private readonly loaded = new Map<string, { module: TokenModule; users: number }>();

  constructor(private readonly reportCleanupError: (error: CustosError) => void = () => {}) {}

  /** The library at this path, loaded on first use and reused (with its first kind) afterwards. */
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

  /** The caller no longer uses the library; it stays initialised for the next one. */
  release(module: TokenModule): void {
    const entry = this.loaded.get(module.path);
    if (!entry || entry.module !== module) return;
    entry.users = Math.max(0, entry.users - 1);
  }

  /** How many parts of Custos hold this library right now. */
  users(path: string): number {
    return this.entry(path)?.users ?? 0;
  }

  /** Whether this library was loaded in this process (it stays loaded until closeAll). */
  isLoaded(path: string): boolean {
    return this.entry(path) !== undefined;
  }

  /** Finalises and unloads every library: only when the process shuts down. */
  closeAll(): void {
    for (const { module } of this.loaded.values()) module.close();
    this.loaded.clear();
  }

  private entry(path: string) {
    try {
      return this.loaded.get(checkModulePath(path));
    } catch {
      return undefined;
    }
  }
}
