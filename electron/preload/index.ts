import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { buildBridge, channelNames, eventNames } from '../../shared/ipc-schema';

// Exposes one function per declared channel and nothing else: no ipcRenderer, no generic send,
// and listeners receive the payload only, never Electron's event object.
contextBridge.exposeInMainWorld(
  'custos',
  buildBridge(
    {
      invoke: (channel, input, intent) => ipcRenderer.invoke(channel, input, intent),
      subscribe: (event, listener) => {
        const handler = (_event: IpcRendererEvent, payload: unknown) => listener(payload);
        ipcRenderer.on(event, handler);
        return () => {
          ipcRenderer.removeListener(event, handler);
        };
      },
    },
    channelNames,
    eventNames,
  ),
);
