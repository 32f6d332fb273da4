import { parseArgs } from 'node:util';
import type { Envelope, ErrorCode, WireError } from '../../shared/errors';
import type { ChannelName, InputOf, ResultOf } from '../../shared/ipc-schema';
import type { ModuleStatus, TokenMechanisms } from '../../shared/tokens';
import { CustosCore } from '../core/custos-core';
import { resolveDataDir } from '../core/data-dir';
import { isCustosError } from '../core/errors';
import { silentLog } from '../core/log';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** Exit codes are a contract with scripts: see README “CLI”. */
export const EXIT = { ok: 0, failure: 1, usage: 2, token: 3, store: 4, invalidInput: 5 } as const;

export function exitCodeFor(code: ErrorCode): number {
  if (code.startsWith('STORE_')) return EXIT.store;
  if (code.startsWith('IPC_')) return EXIT.invalidInput;
  if (code === 'INTERNAL') return EXIT.failure;
  return EXIT.token;
}

const USAGE = `Usage: custos [--data-dir DIR] [--module PATH] [--json] <command>

Commands:
  status                              Data directory, token module and tokens
  token list                          Slots and tokens with their PIN counters
  token mechanisms [--serial S --label L]
                                      Mechanisms the token supports (default: the selected token)
  token select --serial S --label L   Remember the token to work with
  module set PATH                     Use the PKCS#11 library at PATH
  module reset                        Use Custos's embedded SoftHSM2 rehearsal store

Options:
  --data-dir DIR   Data directory (default: CUSTOS_DATA_DIR, else the desktop app's)
  --module PATH    PKCS#11 library for this run only (default: CUSTOS_PKCS11_MODULE, else Settings)
  --json           Machine-readable output: {"ok":true,"value":…} or {"ok":false,"error":{code,message,remedy}}
  --version, --help
`;

export async function runCli(argv: readonly string[], io: Io, version: string): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        module: { type: 'string' },
        json: { type: 'boolean', default: false },
        serial: { type: 'string' },
        label: { type: 'string' },
        help: { type: 'boolean', default: false },
        version: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (values.help) return io.stdout(USAGE), EXIT.ok;
  if (values.version) return io.stdout(`custos ${version}\n`), EXIT.ok;
  const command = positionals.join(' ');
  const json = values.json;
  const request = requestFor(command, positionals, values);
  if (!request) {
    io.stderr(`Unknown command: ${command || '(none)'}\n\n${USAGE}`);
    return EXIT.usage;
  }

  let core: CustosCore;
  try {
    core = CustosCore.open({
      dataDir: resolveDataDir(values['data-dir'], io.env),
      version,
      production: true,
      moduleOverride: values.module ?? io.env.CUSTOS_PKCS11_MODULE,
      operator: 'cli',
      log: silentLog,
    });
  } catch (error) {
    if (!isCustosError(error)) throw error;
    return report({ ok: false, error: { code: error.code, message: error.message, remedy: [...error.remedy] } }, json, io, () => '');
  }
  try {
    const result = await request(core);
    return report(result.envelope, json, io, result.render);
  } finally {
    core.close();
  }
}

type Request = (core: CustosCore) => Promise<{ envelope: Envelope<unknown>; render: (value: never) => string }>;

function call<N extends ChannelName>(name: N, input: InputOf<N>, render: (value: ResultOf<N>) => string): Request {
  return async (core) => {
    const envelope = await core.router.dispatch(name, input);
    if (envelope.ok && envelope.value && typeof envelope.value === 'object' && 'state' in envelope.value) {
      const status = envelope.value as ModuleStatus;
      // A module that cannot load is a failure for a script, even though the UI shows it as a state.
      if (status.state === 'unavailable') return { envelope: { ok: false, error: { code: status.code, message: status.message, remedy: status.remedy } }, render: () => '' };
    }
    return { envelope, render: render as (value: never) => string };
  };
}

function requestFor(
  command: string,
  positionals: string[],
  values: { serial?: string | undefined; label?: string | undefined },
): Request | null {
  const ref = values.serial !== undefined ? { serial: values.serial, label: values.label ?? '' } : null;
  switch (command) {
    case 'status':
      return call('app.snapshot', {}, (s) => `Data directory: ${s.dataDir}\n${renderStatus(s.tokens)}Selected token: ${s.selectedToken ? `${s.selectedToken.label} (${s.selectedToken.serial})` : 'none'}\n`);
    case 'token list':
      return call('tokens.status', {}, renderStatus);
    case 'token mechanisms':
      return async (core) => {
        const target = ref ?? core.tokens.selected();
        if (!target) {
          const error: WireError = { code: 'TOKEN_NOT_FOUND', message: 'No token given and none selected.', remedy: ['Pass --serial and --label, or run `custos token select` first.'] };
          return { envelope: { ok: false, error }, render: () => '' };
        }
        return call('tokens.mechanisms', target, renderMechanisms)(core);
      };
    case 'token select':
      return call('tokens.select', ref ?? { serial: '', label: '' }, (t) => `Selected ${t.label} (${t.serial}).\n`);
    case 'module reset':
      return call('settings.setModule', { path: null }, renderStatus);
    default:
      if (positionals[0] === 'module' && positionals[1] === 'set' && positionals.length === 3) {
        return call('settings.setModule', { path: positionals[2]! }, renderStatus);
      }
      return null;
  }
}

function report(envelope: Envelope<unknown>, json: boolean, io: Io, render: (value: never) => string): number {
  if (json) {
    io.stdout(`${JSON.stringify(envelope, null, 2)}\n`);
  } else if (envelope.ok) {
    io.stdout(render(envelope.value as never));
  } else {
    const { code, message, remedy } = envelope.error;
    io.stderr(`Error ${code}: ${message}\n${remedy.map((step) => `  → ${step}\n`).join('')}`);
  }
  return envelope.ok ? EXIT.ok : exitCodeFor(envelope.error.code);
}

function renderStatus(status: ModuleStatus): string {
  if (status.state === 'unavailable') return `Token module unavailable (${status.code}): ${status.message}\n`;
  const m = status.module;
  const lines = [`Module: ${m.path} — ${m.manufacturer} ${m.libraryDescription} ${m.libraryVersion}${m.kind === 'embedded-softhsm' ? ' [embedded]' : ''}`];
  if (m.notice) lines.push(`  ! ${m.notice}`);
  for (const slot of status.slots) {
    const t = slot.token;
    if (!t) lines.push(`  Slot “${slot.description}”: no token`);
    else if (!t.initialized) lines.push(`  Slot “${slot.description}”: blank token (${t.model})`);
    else lines.push(`  Token “${t.label}”  serial ${t.serial}  ${t.manufacturer} ${t.model}  PIN length ${t.minPinLength}–${t.maxPinLength}`);
    for (const warning of t?.warnings ?? []) if (t?.initialized) lines.push(`    ! ${warning}`);
  }
  return `${lines.join('\n')}\n`;
}

function renderMechanisms({ token, mechanisms }: TokenMechanisms): string {
  const rows = mechanisms.map((m) => `  ${m.name.padEnd(34)} 0x${m.type.toString(16).padStart(4, '0')}  ${`${m.minKeySize}–${m.maxKeySize}`.padEnd(12)} ${m.functions.join(', ')}`);
  return `Mechanisms of “${token.label}” (${token.serial}): ${mechanisms.length}\n${rows.join('\n')}\n`;
}
