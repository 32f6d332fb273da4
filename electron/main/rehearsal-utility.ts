import { utilityProcess } from 'electron';
import type { FromRehearsal, SpawnRehearsal } from '../core/ceremony/rehearsal-protocol';

/**
 * The app's rehearsal process: an Electron utility process (a Node environment without Electron's windows, which can
 * load the native SQLite and PKCS#11 modules) running the built rehearsal entry. A plain Node child is not possible in
 * the packaged app: the RunAsNode fuse is off.
 */
export function utilityRehearsal(entry: string): SpawnRehearsal {
  return () => {
    const child = utilityProcess.fork(entry, [], { serviceName: 'Custos rehearsal', stdio: 'inherit' });
    // A fatal error there (V8 out of memory…) comes as 'error', then 'exit', which records the rehearsal as stopped;
    // an 'error' event nobody listens for would be thrown in the main process.
    child.on('error', () => {});
    return {
      post: (message) => child.postMessage(message),
      onMessage: (listener) => child.on('message', (message: unknown) => listener(message as FromRehearsal)),
      onExit: (listener) => child.on('exit', (code: number) => listener(code)),
      kill: () => {
        child.kill();
      },
    };
  };
}
