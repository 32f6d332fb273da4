import type { RehearsalParent, ToRehearsal } from '../core/ceremony/rehearsal-protocol';
import { serveRehearsal } from './rehearsal-process';

/** Electron's utilityProcess gives the child a parentPort; a Node child forked with an IPC channel has process.send. */
interface ParentPort {
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

function parent(): RehearsalParent {
  const port = (process as NodeJS.Process & { parentPort?: ParentPort }).parentPort;
  if (port)
    return {
      post: (message) => port.postMessage(message),
      onMessage: (listener) => port.on('message', (event) => listener(event.data as ToRehearsal)),
    };
  if (!process.send) throw new Error('a rehearsal process is started by Custos, not on its own');
  return {
    post: (message) => process.send!(message),
    onMessage: (listener) => process.on('message', (message) => listener(message as ToRehearsal)),
  };
}

serveRehearsal(parent(), (code) => process.exit(code));
