import type { CustosBridge } from '../../shared/ipc-schema';

declare global {
  interface Window {
    /** Exposed by the preload (or the e2e harness): one function per declared channel. */
    readonly custos: CustosBridge;
  }
}

export type { CustosBridge };
