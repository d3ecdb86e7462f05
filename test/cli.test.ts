/**
 * The command-line interface, run in-process through main(argv, io) with an io
 * that captures what would go to stdout and stderr, plus one spawned run of the
 * built binary (bin/spikeforge.js, which loads dist/).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Io } from '../src/cli/io.js';
import { EXIT, main } from '../src/cli/main.js';
import { CpuBackend } from '../src/runtime/cpu.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TEMP_OUT = mkdtempSync(join(tmpdir(), 'spikeforge-cli-'));
afterAll(() => rmSync(TEMP_OUT, { recursive: true, force: true }));

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const line = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);
  const io: Io = { out: (t) => (stdout += line(t)), err: (t) => (stderr += line(t)) };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

/** No JavaScript stack trace ever reaches the user. */
function expectNoStackTrace(r: Run): void {
  expect(r.stdout).not.toMatch(/^ {4}at /m);
  expect(r.stderr).not.toMatch(/^ {4}at /m);
}

const VALID = [
  'stdlib/neurons.spk',
  'stdlib/synapses.spk',
  'examples/ei_net.spk',
  ...readdirSync(join(ROOT, 'test', 'models', 'language'))
    .filter((f) => f.endsWith('.spk'))
    .sort()
    .map((f) => `test/models/language/${f}`),
];

beforeAll(() => {
  if (process.cwd() !== ROOT) process.chdir(ROOT);
});

describe('spikeforge check', () => {
  it.each(VALID)('accepts %s (exit 0, nothing on stderr)', async (file) => {
    const r = await run('check', file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toContain(`${file}: ok`);
  });

  it('checks several files in one run', async () => {
    const r = await run('check', 'stdlib/neurons.spk', 'examples/ei_net.spk');
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('reports a bad model on stderr with exit code 1', async () => {
    const r = await run('check', 'test/bad/units/compare_bare_number.spk');
    expect(r.code).toBe(EXIT.modelError);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      'test/bad/units/compare_bare_number.spk:6:19: error: cannot compare mV with a dimensionless number',
    );
    expect(r.stderr).toContain('write -50 mV');
    expectNoStackTrace(r);
  });

  it('reports every error of a file with several', async () => {
    const r = await run('check', 'test/bad/syntax/several_errors.spk');
    expect(r.code).toBe(EXIT.modelError);
    expect(r.stderr.match(/: error: /g)).toHaveLength(3);
  });

  it('exits 1 when one of several files is bad, and still checks the good ones', async () => {
    const r = await run(
      'check',
      'examples/ei_net.spk',
      'test/bad/names/undefined_name.spk',
      'stdlib/synapses.spk',
    );
    expect(r.code).toBe(EXIT.modelError);
    expect(r.stdout).toContain('examples/ei_net.spk: ok');
    expect(r.stdout).toContain('stdlib/synapses.spk: ok');
    expect(r.stderr).toContain("did you mean 'V_reset'?");
  });

  it('a warning is printed with its location and the check still passes (exit 0)', async () => {
    // Brian2's COBAHH idiom: a threshold and a refractory period, no reset.
    const file = join(TEMP_OUT, 'refractory_no_reset.spk');
    writeFileSync(
      file,
      `neuron Held {
  state { v = -65 mV }
  current I : nA
  equations { dv/dt = (-65 mV - v + 1 Mohm * I) / (10 ms) }
  spike when v > -50 mV
  refractory 2 ms
}
neuron Reset {
  state { v = -65 mV }
  equations { dv/dt = (-65 mV - v) / (10 ms) }
  spike when v > -50 mV
  reset { if v > 0 mV { v = -65 mV } }
  refractory 2 ms
}
`,
    );
    const r = await run('check', file);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toContain(`${file}: ok`);
    expect(r.stderr).toContain(
      `${file}:6:3: warning: 'refractory' holds v, and the reset does not change it`,
    );
    expect(r.stderr).toContain("'spike when v > X and prev(v) <= X'");
    // A reset that assigns v in a branch is enough: one warning, for Held.
    expect(r.stderr.match(/: warning: /g)).toHaveLength(1);
  });

  it('a number outside the float32 range is a warning, and a model with a warning is still checked and used', async () => {
    const file = join(TEMP_OUT, 'float32_range.spk');
    const model = `neuron Big {
  parameters { V_th = 1e39 mV   tau = 10 ms   g = 1e-50 }
  state { V = -65 mV }
  equations { dV/dt = -V / tau * (1 + g) }
  spike when V > V_th
}
`;
    writeFileSync(file, `${model}network N {\n  population P = Big(2) { V_th = 2e39 mV }\n}\n`);
    const r = await run('check', file);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toContain(`${file}: ok (1 model, 1 network)`);
    expect(r.stderr).toContain(
      `${file}:2:23: warning: 1e39 mV is beyond the largest float32 number: it is infinite in float32 runs`,
    );
    expect(r.stderr).toContain(
      `${file}:2:51: warning: 1e-50 is below the smallest float32 number: it is 0 in float32 runs`,
    );
    expect(r.stderr).toContain(`${file}:8:34: warning: 2e39 mV is beyond the largest float32`);
    expect(r.stderr.match(/: warning: /g)).toHaveLength(3);
    // Errors in the network that uses the model are reported, not taken for knock-on errors.
    writeFileSync(file, `${model}network N {\n  population P = Big(2) { V_rest = 1 mV }\n}\n`);
    const misuse = await run('check', file);
    expect(misuse.code).toBe(EXIT.modelError);
    expect(misuse.stderr).toContain(`${file}:8:27: error: `);
  });

  it('recording the spikes of a neuron without a spike condition is a warning', async () => {
    const file = join(TEMP_OUT, 'no_spike_condition.spk');
    writeFileSync(
      file,
      `neuron Passive {
  state { V = -65 mV }
  equations { dV/dt = (-65 mV - V) / (10 ms) }
}
network N {
  population P = Passive(3)
  record P.spikes
}
`,
    );
    const r = await run('check', file);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stderr).toContain(
      `${file}:7:12: warning: neuron Passive has no spike condition: population P never spikes`,
    );
  });

  it('exits 1 for every bad model in test/bad', async () => {
    const bad = readdirSync(join(ROOT, 'test', 'bad'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.spk'))
      .map((f) => `test/bad/${f.split('\\').join('/')}`);
    expect(bad.length).toBeGreaterThanOrEqual(45);
    for (const file of bad) {
      const r = await run('check', file);
      expect(r.code, file).toBe(EXIT.modelError);
      expect(r.stderr, file).toMatch(/^[^:\n]+:\d+:\d+: error: /m);
      expectNoStackTrace(r);
    }
  });
});

describe('usage errors exit 2', () => {
  it('no arguments: the problem and the usage line on stderr, nothing on stdout, exit 2', async () => {
    const r = await run();
    expect(r.code).toBe(EXIT.usage);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      "spikeforge: no command given; the commands are check, inspect, compile, run\nusage: spikeforge COMMAND [OPTIONS]  ('spikeforge --help' describes the commands)\n",
    );
  });

  it('unknown command: printed as no command is', async () => {
    const r = await run('frobnicate', 'examples/ei_net.spk');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      "spikeforge: unknown command 'frobnicate'; the commands are check, inspect, compile, run\nusage: spikeforge COMMAND [OPTIONS]  ('spikeforge --help' describes the commands)\n",
    );
  });

  it('a time with its unit unquoted: the stray unit is named, with the quoted option', async () => {
    for (const [args, message] of [
      [
        ['examples/ei_net.spk', '--dt', '2000', 'ms'],
        "'ms' is not a FILE: a value with a unit is one argument, quote it: --dt '2000 ms'",
      ],
      [
        ['--duration', '5', 's', 'examples/ei_net.spk'],
        "'s' is not a FILE: a value with a unit is one argument, quote it: --duration '5 s'",
      ],
      [
        ['examples/ei_net.spk', '--duration=-5', 'ms'],
        "'ms' is not a FILE: a value with a unit is one argument, quote it: --duration '-5 ms'",
      ],
      // Not after a time option, or not a unit: the extra arguments are named.
      [
        ['examples/ei_net.spk', '--seed', '5', 'ms'],
        "run takes exactly one FILE; extra argument: 'ms'",
      ],
      [
        ['examples/ei_net.spk', '--dt', '2000', 'msec', 'b.spk'],
        "run takes exactly one FILE; extra arguments: 'msec', 'b.spk'",
      ],
    ] as const) {
      const r = await run('run', ...args);
      expect(r.code, args.join(' ')).toBe(EXIT.usage);
      expect(r.stderr, args.join(' ')).toContain(
        `spikeforge run: ${message}\nusage: spikeforge run FILE`,
      );
    }
  });

  it('an option without its value, last or before another option, long and short: the project message, exit 2', async () => {
    const valued = {
      run: ['--network', '--backend', '--duration', '--dt', '--seed', '--threads', '--out', '-o'],
      compile: ['--target', '--network', '--out', '-o', '--precision'],
      inspect: ['--model', '--stage'],
    };
    for (const [command, options] of Object.entries(valued))
      for (const option of options)
        for (const after of [[], ['--help'], ['-o', 'x']]) {
          const args = [command, 'examples/ei_net.spk', option, ...after];
          const r = await run(...args);
          expect(r.code, args.join(' ')).toBe(EXIT.usage);
          expect(r.stdout, args.join(' ')).toBe('');
          expect(r.stderr, args.join(' ')).toMatch(
            new RegExp(
              `^spikeforge ${command}: ${option} needs a value\nusage: spikeforge ${command} `,
            ),
          );
        }
  });

  it('unknown option', async () => {
    const r = await run('check', '--fast', 'examples/ei_net.spk');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('--fast');
    expect(r.stderr).toContain('usage: spikeforge check');
    expectNoStackTrace(r);
  });

  it('missing file', async () => {
    const r = await run('check', 'examples/no_such_file.spk');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('no_such_file.spk');
    expect(r.stderr).toContain('no such file');
    expectNoStackTrace(r);
  });

  it('a negative option value gets the message of its option, not of the parser', async () => {
    for (const [option, value, message] of [
      ['--duration', '-5', "--duration must be positive, not '-5'"],
      ['--dt', '-0.1 ms', "--dt must be positive, not '-0.1 ms'"],
      ['--seed', '-1', "--seed takes a whole number from 0 to 4294967295, not '-1'"],
    ] as const) {
      const r = await run('run', 'examples/ei_net.spk', option, value);
      expect(r.code, option).toBe(EXIT.usage);
      expect(r.stderr).toContain(`spikeforge run: ${message}`);
    }
  });

  it('compile: an unknown target is named; a file with nothing to compile is a usage error', async () => {
    const unknown = await run('compile', 'stdlib/neurons.spk', '--target', 'foo');
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toContain("unknown target 'foo': --target takes wgsl|js|cuda|wasm");
    const out = join(TEMP_OUT, 'nothing_to_compile');
    const nothing = await run('compile', 'stdlib/synapses.spk', '--target', 'cuda', '-o', out);
    expect(nothing.code).toBe(EXIT.usage);
    expect(nothing.stderr).toContain(
      'stdlib/synapses.spk defines no network and no neuron model: nothing to compile',
    );
    expect(existsSync(out)).toBe(false);
  });

  it.skipIf(!existsSync('/proc/self'))(
    'an output folder that cannot be made under /proc: one sentence, exit 2 (recursive mkdir spun for ever)',
    async () => {
      for (const args of [
        [
          'run',
          'examples/ei_net.spk',
          '--backend',
          'cpu',
          '--duration',
          '1 ms',
          '-o',
          '/proc/sf/out',
        ],
        ['compile', 'examples/ei_net.spk', '--target', 'wgsl', '-o', '/proc/sf/out'],
      ]) {
        const r = await run(...args);
        expect(r.code, args.join(' ')).toBe(EXIT.usage);
        expect(r.stderr).toMatch(
          /^spikeforge (run|compile): cannot create the folder \/proc\/sf: /,
        );
      }
    },
    30_000,
  );

  it('an output folder that is a file: one sentence, exit 2', async () => {
    const blocker = join(TEMP_OUT, 'a_file');
    writeFileSync(blocker, '');
    for (const args of [
      ['run', 'examples/ei_net.spk', '--backend', 'cpu', '--duration', '1 ms', '-o', blocker],
      [
        'run',
        'examples/ei_net.spk',
        '--backend',
        'cpu',
        '--duration',
        '1 ms',
        '-o',
        join(blocker, 'sub'),
      ],
      ['compile', 'examples/ei_net.spk', '--target', 'wgsl', '-o', blocker],
    ]) {
      const r = await run(...args);
      expect(r.code, args.join(' ')).toBe(EXIT.usage);
      expect(r.stderr).toMatch(/^spikeforge (run|compile): cannot create the folder .*a_file.*: /);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expectNoStackTrace(r);
    }
  });

  it('--dt longer than the duration, or more than 2^32 - 1 steps: one sentence, exit 2', async () => {
    for (const [options, message] of [
      [['--duration', '0.01 ms'], 'the time step of 0.1 ms is longer than the duration of 0.01 ms'],
      [['--dt', '2000'], 'the time step of 2000 ms is longer than the duration of'],
      [['--dt', '1e-9 ms', '--duration', '10 s'], 'more than the 4294967295 steps a run can have'],
    ] as const) {
      const r = await run('run', 'examples/ei_net.spk', '--backend', 'cpu', ...options);
      expect(r.code, options.join(' ')).toBe(EXIT.usage);
      expect(r.stderr).toContain(message);
      expectNoStackTrace(r);
    }
  });

  it('a directory instead of a file is named', async () => {
    const r = await run('check', 'stdlib/neurons.spk', 'examples');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('spikeforge check: cannot read examples: it is a folder');
    expectNoStackTrace(r);
  });

  it('an unknown option gets the nearest known one, not parseArgs advice', async () => {
    const r = await run('run', 'examples/ei_net.spk', '--durration', '5');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain(
      "spikeforge run: unknown option '--durration'; did you mean '--duration'?",
    );
    expect(r.stderr).not.toContain("'--'");
  });

  it('an empty option value is a usage error, naming the option as written', async () => {
    for (const [args, option] of [
      [['-o', ''], '-o'],
      [['--out', ''], '--out'],
      [['--out='], '--out'],
      [['--dt='], '--dt'],
    ] as const) {
      const r = await run('run', 'examples/ei_net.spk', ...args);
      expect(r.code).toBe(EXIT.usage);
      expect(r.stderr).toContain(`spikeforge run: ${option} needs a value`);
    }
  });

  it.skipIf(!existsSync('/dev/full'))(
    'a file that cannot be written (no space left) is named with its folder, exit 2',
    async () => {
      // The temporary name of the file, as this process would make it, leads to /dev/full:
      // every write to it fails with ENOSPC.
      const full = (file: string): string => {
        const dir = mkdtempSync(join(TEMP_OUT, 'full-'));
        symlinkSync('/dev/full', join(dir, `${file}.${process.pid}.tmp`));
        return dir;
      };
      const run1ms = ['run', 'examples/ei_net.spk', '--backend', 'cpu', '--duration', '1 ms'];
      for (const [args, file] of [
        [run1ms, 'spikes.csv'],
        [run1ms, 'summary.json'],
        [['compile', 'examples/ei_net.spk', '--target', 'cuda'], 'EINet.cu'],
      ] as const) {
        const dir = full(file);
        const r = await run(...args, '-o', dir);
        expect(r.code, file).toBe(EXIT.usage);
        expect(r.stderr, file).toBe(
          `spikeforge ${args[0]}: cannot write ${join(dir, file)}: no space left on the device\n`,
        );
      }
    },
  );

  it('check without files', async () => {
    const r = await run('check');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('check needs at least one FILE');
  });

  it("inspect without --model: the file's one network, else a usage error naming the choices", async () => {
    const one = await run('inspect', 'examples/ei_net.spk');
    expect(one.code).toBe(EXIT.ok);
    expect(one.stdout).toMatch(/^network EINet\n/);
    const several = await run('inspect', 'stdlib/neurons.spk');
    expect(several.code).toBe(EXIT.usage);
    expect(several.stderr).toContain('inspect needs --model NAME, one of Lif, LifRef,');
  });

  it('inspect with an unknown stage', async () => {
    const r = await run(
      'inspect',
      'examples/ei_net.spk',
      '--model',
      'EINet',
      '--stage',
      'wgsl-ish',
    );
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain("unknown stage 'wgsl-ish'");
  });

  it('inspect of a name the file does not define', async () => {
    const r = await run('inspect', 'examples/ei_net.spk', '--model', 'Nope', '--stage', 'ir');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain("no model or network named 'Nope'");
  });

  it('inspect with two files', async () => {
    const r = await run('inspect', 'examples/ei_net.spk', 'stdlib/neurons.spk', '--model', 'EINet');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('exactly one FILE');
  });
});

describe('help', () => {
  it.each([['--help'], ['-h'], ['help']])('%s prints the general help, exit 0', async (flag) => {
    const r = await run(flag);
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toContain('usage: spikeforge COMMAND');
    expect(r.stdout).toContain('check');
    expect(r.stdout).toContain('inspect');
  });

  it('every command listed in the general help has its own --help, exit 0', async () => {
    const help = (await run('--help')).stdout.split('\n');
    const start = help.indexOf('commands:');
    const commands = help
      .slice(start + 1)
      .filter((l) => /^ {2}\S/.test(l))
      .map((l) => l.trim().split(/\s+/)[0] ?? '');
    expect(commands).toEqual(expect.arrayContaining(['check', 'inspect']));
    for (const command of commands) {
      for (const flag of ['--help', '-h']) {
        const r = await run(command, flag);
        expect(r.code, `${command} ${flag}`).toBe(EXIT.ok);
        expect(r.stdout, `${command} ${flag}`).toContain(`usage: spikeforge ${command}`);
        expect(r.stderr, `${command} ${flag}`).toBe('');
      }
    }
  });

  it('inspect --help lists its options', async () => {
    const r = await run('inspect', '--help');
    expect(r.stdout).toMatch(/--model NAME +the model or network to print/);
    expect(r.stdout).toMatch(/--stage STAGE +what to print: ast, ir, .*\(default: ir\)/);
  });

  it('run --help explains every option, with its default', async () => {
    const lines = (await run('run', '--help')).stdout.split('\n');
    const options = lines.slice(lines.indexOf('options:') + 1).filter((l) => l !== '');
    expect(options.map((l) => /--(\w+)/.exec(l)?.[1])).toEqual([
      'network',
      'backend',
      'duration',
      'dt',
      'seed',
      'threads',
      'out',
    ]);
    for (const line of options) expect(line).toMatch(/^ {2}(-\w, | {4})--\w+ \S+ +\S.{10,}/);
    expect(lines).toContain('  -o, --out DIR       output folder (default: out)');
  });

  it('--version prints the package version', async () => {
    const r = await run('--version');
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('spikeforge inspect', () => {
  it('--stage ir of a network shows its populations and projections', async () => {
    const r = await run('inspect', 'examples/ei_net.spk', '--model', 'EINet', '--stage', 'ir');
    expect(r.code).toBe(EXIT.ok);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('network EINet');
    expect(r.stdout).toMatch(/population N\b/);
    expect(r.stdout).toMatch(/projection E\b/);
    expect(r.stdout).toMatch(/projection I\b/);
    expect(r.stdout).toContain('LifRef');
    expect(r.stdout).toContain('Expon');
    expect(r.stdout).toContain('COBA');
  });

  it('--stage ast of a network shows its populations and projections', async () => {
    const r = await run('inspect', 'examples/ei_net.spk', '--model', 'EINet', '--stage', 'ast');
    expect(r.code).toBe(EXIT.ok);
    const ast = JSON.parse(r.stdout) as {
      name: { name: string };
      items: { kind: string; name?: { name: string } }[];
    };
    expect(ast.name.name).toBe('EINet');
    const named = (kind: string): string[] =>
      ast.items.filter((i) => i.kind === kind).map((i) => i.name?.name ?? '');
    expect(named('population')).toEqual(['N']);
    expect(named('projection')).toEqual(['E', 'I']);
    // Spans print as line:column ranges, not as the whole source file.
    expect(r.stdout).not.toContain('"file"');
    expect(r.stdout).toContain('"span": "4:9-4:14"');
  });

  it('--stage ir is the default', async () => {
    const a = await run('inspect', 'examples/ei_net.spk', '--model', 'EINet');
    const b = await run('inspect', 'examples/ei_net.spk', '--model', 'EINet', '--stage', 'ir');
    expect(a.code).toBe(EXIT.ok);
    expect(a.stdout).toBe(b.stdout);
  });

  it('--stage ir of HH shows its differential equations', async () => {
    const r = await run('inspect', 'stdlib/neurons.spk', '--model', 'HH', '--stage', 'ir');
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toContain('neuron HH');
    for (const x of ['V', 'm', 'h', 'n']) expect(r.stdout).toContain(`d${x}/dt`);
  });

  it('--stage update of a model whose update cannot be derived: the diagnostic, exit 1', async () => {
    const r = await run('inspect', 'test/bad/structure/exact_nonlinear.spk', '--stage', 'update');
    expect(r.code).toBe(EXIT.modelError);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error: method exact needs linear equations');
    expectNoStackTrace(r);
  });

  it('of a bad file reports the errors and exits 1', async () => {
    const r = await run(
      'inspect',
      'test/bad/names/undefined_name.spk',
      '--model',
      'Leaky',
      '--stage',
      'ir',
    );
    expect(r.code).toBe(EXIT.modelError);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("unknown name 'V_rsset'");
  });
});

describe('the installed binary', () => {
  const built = existsSync(join(ROOT, 'dist', 'cli', 'main.js'));
  if (!built)
    console.log(
      'skipping the spawned-binary test: dist/cli/main.js does not exist (run `npm run build`)',
    );

  it.skipIf(!built)('node bin/spikeforge.js check examples/ei_net.spk exits 0', () => {
    const r = spawnSync(process.execPath, ['bin/spikeforge.js', 'check', 'examples/ei_net.spk'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^examples\/ei_net\.spk: ok/);
  });

  /**
   * Spawns the binary and interrupts it (SIGINT) as soon as its first temporary file exists in
   * `out`: a signal between that file and the command's listener used to end the process at
   * once, leaving .tmp files behind. The command must exit 130, say so, and leave `out` empty.
   */
  async function expectCleanInterrupt(args: readonly string[], out: string): Promise<void> {
    const child = spawn(process.execPath, ['bin/spikeforge.js', ...args, '-o', out], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 30_000;
    while (
      Date.now() < deadline &&
      !(existsSync(out) && readdirSync(out).some((f) => f.endsWith('.tmp')))
    )
      await new Promise((resolve) => setImmediate(resolve));
    expect(readdirSync(out).some((f) => f.endsWith('.tmp'))).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain(`spikeforge ${args[0]}: interrupted (SIGINT)`);
    expect(readdirSync(out)).toEqual([]);
  }

  it.skipIf(!built)(
    'Ctrl-C during a run: exit 130, and no partly written file is left',
    async () => {
      const out = join(TEMP_OUT, 'interrupted');
      await expectCleanInterrupt(
        ['run', 'examples/ei_net.spk', '--backend', 'cpu', '--duration', '1000 s'],
        out,
      );
    },
    60_000,
  );

  it.skipIf(!built)(
    'Ctrl-C while compile writes its files: exit 130, and none of them is left',
    async () => {
      // A standalone build whose connectivity file (5M synapses, 40 MB) takes a while to write.
      const model = join(TEMP_OUT, 'standalone_interrupted.spk');
      writeFileSync(
        model,
        `import "${join(ROOT, 'stdlib/neurons.spk')}"
import "${join(ROOT, 'stdlib/synapses.spk')}"
network Big {
  dt = 0.1 ms
  duration = 10 ms
  population N = LifRef(10000) { V_rest = -60 mV  V_th = -50 mV  V_reset = -60 mV  tau = 20 ms  tau_ref = 5 ms }
  projection E = N -> N {
    connect fixed_in_degree(500)
    weight uniform(0.1 uS, 0.6 uS)
    synapse Expon(tau = 5 ms)
    output COBA(E = 0 mV)
  }
  record N.spikes
}
`,
      );
      const out = join(TEMP_OUT, 'compile_interrupted');
      await expectCleanInterrupt(['compile', model, '--target', 'cuda', '--standalone'], out);
    },
    60_000,
  );

  it.skipIf(!built)(
    'output through a pipe arrives whole: 2000 diagnostics (about 300 KB on stderr)',
    () => {
      // The binary exits explicitly; before it waited for the pipes, the reader got the first
      // 64 KiB or so.
      const file = join(TEMP_OUT, 'many_errors.spk');
      const lines = Array.from({ length: 2000 }, (_, k) => `    p${k} = ${k} mV + 1 ms`);
      writeFileSync(file, `neuron ManyErrors {\n  parameters {\n${lines.join('\n')}\n  }\n}\n`);
      const r = spawnSync(process.execPath, ['bin/spikeforge.js', 'check', file], {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 1e8,
        timeout: 60_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr.length).toBeGreaterThan(200_000);
      expect(r.stderr.match(/: error: cannot add mV and ms/g)).toHaveLength(2000);
    },
  );

  it.skipIf(!built)(
    'node bin/spikeforge.js check on a bad file exits 1 with the golden diagnostics',
    () => {
      const r = spawnSync(
        process.execPath,
        ['bin/spikeforge.js', 'check', 'test/bad/units/compare_bare_number.spk'],
        { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('cannot compare mV with a dimensionless number');
    },
  );
});

describe('spikeforge compile', () => {
  it("names another network's or target's compiled files and an interrupted compile's temporaries in its folder", async () => {
    const out = mkdtempSync(join(TEMP_OUT, 'compile-others-'));
    const dead = endedPid();
    const files = [
      'Other.cu',
      'Other.manifest.json',
      'EINet.wgsl',
      'readme.txt',
      'kernel.cu.bak',
      `EINet.cu.${dead}.tmp`,
      `notes.txt.${dead}.tmp`,
    ];
    for (const f of files) writeFileSync(join(out, f), '');
    const r = await run('compile', 'examples/ei_net.spk', '--target', 'cuda', '-o', out);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stderr).toBe(
      [
        `spikeforge compile: note: ${out} also holds 3 compiled files this compile did not write (of another network or target?): EINet.wgsl, Other.cu, Other.manifest.json`,
        `spikeforge compile: note: ${out} also holds 1 temporary file of an interrupted spikeforge compile, which can be deleted: EINet.cu.${dead}.tmp`,
        '',
      ].join('\n'),
    );
    expect(readdirSync(out)).toEqual(expect.arrayContaining(files));
    // Into a folder of its own files only: no note.
    const again = await run(
      'compile',
      'examples/ei_net.spk',
      '--target',
      'cuda',
      '-o',
      join(out, 'own'),
    );
    const twice = await run(
      'compile',
      'examples/ei_net.spk',
      '--target',
      'cuda',
      '-o',
      join(out, 'own'),
    );
    expect([again.stderr, twice.stderr]).toEqual(['', '']);
  });

  it('--precision f64 writes float64 kernels for js (what cpu64 runs) and cuda, with f64 buffers in the manifest', async () => {
    for (const [target, extension] of [
      ['js', 'js'],
      ['cuda', 'cu'],
    ] as const) {
      const out = join(TEMP_OUT, `f64-${target}`);
      const r = await run(
        'compile',
        'examples/ei_net.spk',
        '--target',
        target,
        '--precision',
        'f64',
        '-o',
        out,
      );
      expect(r.code, r.stderr).toBe(EXIT.ok);
      const source = readFileSync(join(out, `EINet.${extension}`), 'utf8');
      expect(source).not.toContain('Math.fround');
      if (target === 'cuda') expect(source).toContain('double');
      const manifest = JSON.parse(readFileSync(join(out, 'EINet.manifest.json'), 'utf8')) as {
        buffers: { state: { type: string }; record: { type: string } };
      };
      expect([manifest.buffers.state.type, manifest.buffers.record.type]).toEqual(['f64', 'f64']);
    }
    const wgsl = await run(
      'compile',
      'examples/ei_net.spk',
      '--target',
      'wgsl',
      '--precision',
      'f64',
      '-o',
      join(TEMP_OUT, 'f64-wgsl'),
    );
    expect(wgsl.code).toBe(EXIT.usage);
    expect(wgsl.stderr).toContain(
      '--precision f64 is for --target cuda or js (the wgsl kernels are float32)',
    );
  });
});

/** The id of a process that has ended: a killed command's, in its temporary files' names. */
function endedPid(): number {
  const ended = spawnSync(process.execPath, ['-e', '']);
  expect(() => process.kill(ended.pid!, 0)).toThrow();
  return ended.pid!;
}

describe('spikeforge run', () => {
  it('--backend cpu says on stderr when a network too large for a WebAssembly memory runs on the JavaScript kernels', async () => {
    // A WebAssembly memory of 1 KiB stands for a network of hundreds of millions of neurons.
    const prepare = CpuBackend.prototype.prepare;
    const spy = vi.spyOn(CpuBackend.prototype, 'prepare').mockImplementation(async function (
      this: CpuBackend,
      plan,
    ) {
      (this as unknown as { maxWasmBytes: number }).maxWasmBytes = 1024;
      return prepare.call(this, plan);
    });
    const out = join(TEMP_OUT, 'javascript-kernels');
    try {
      const r = await run(
        'run',
        'examples/ei_net.spk',
        '--backend',
        'cpu',
        '--duration',
        '1 ms',
        '-o',
        out,
      );
      expect(r.code, r.stderr).toBe(EXIT.ok);
      expect(r.stderr).toMatch(
        /^spikeforge: note: the network needs [\d.]+ (KiB|MiB) even without its connectivity, more than the 1 KiB a WebAssembly memory holds: the cpu backend runs it on the JavaScript kernels \(the same results, several times slower\)\n$/,
      );
      expect(r.stdout).toContain('(JavaScript, float32');
    } finally {
      spy.mockRestore();
    }
  });

  it('names the temporary files of an interrupted run in its folder, and only those of its own naming', async () => {
    const out = mkdtempSync(join(TEMP_OUT, 'leftovers-'));
    const dead = endedPid();
    const leftovers = [`N.V.csv.${dead}.tmp`, `raster.svg.${dead}.tmp`, `spikes.csv.${dead}.tmp`];
    const others = [
      // A run still writing (this test's own parent process), and names a run does not make.
      `summary.json.${process.ppid}.tmp`,
      `notes.txt.${dead}.tmp`,
      `spikes.csv.tmp`,
      `my data.csv.${dead}.tmp`,
    ];
    for (const f of [...leftovers, ...others]) writeFileSync(join(out, f), '');
    const r = await run(
      'run',
      'examples/ei_net.spk',
      '--backend',
      'cpu',
      '--duration',
      '1 ms',
      '-o',
      out,
    );
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stderr).toBe(
      `spikeforge run: note: ${out} also holds 3 temporary files of an interrupted spikeforge run, which can be deleted: ${leftovers.join(', ')}\n`,
    );
    // Named, not deleted.
    expect(readdirSync(out)).toEqual(expect.arrayContaining([...leftovers, ...others]));
  });

  /** A folder with pairs.spk, whose projection reads `file` beside it (written when `csv` is given). */
  const pairsModel = (file: string, csv?: string): string => {
    const dir = mkdtempSync(join(TEMP_OUT, 'pairs-'));
    if (csv !== undefined) writeFileSync(join(dir, file), csv);
    writeFileSync(
      join(dir, 'pairs.spk'),
      `import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Net {
  duration = 1 ms
  population A = LifRef(2)
  population B = LifRef(5)
  projection P = A -> B { connect from_file("${file}")  weight 1 nA  synapse Expon  output CUBA }
}
`,
    );
    return dir;
  };

  it("reads from_file's pairs beside the .spk file, not from the working folder", async () => {
    const dir = pairsModel('pairs.csv', 'pre,post\n0,1\n1,0\n');
    expect(process.cwd()).not.toBe(dir);
    const r = await run('run', join(dir, 'pairs.spk'), '--backend', 'cpu', '-o', join(dir, 'out'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(EXIT.ok);
  });

  it('check, run, compile and inspect report a missing connection file at its from_file argument (exit 1)', async () => {
    const dir = pairsModel('pairs_missing.csv');
    const spk = join(dir, 'pairs.spk');
    const located = [
      `${spk}:7:45: error: cannot find the connection file ${join(dir, 'pairs_missing.csv')}`,
      '     projection P = A -> B { connect from_file("pairs_missing.csv")  weight 1 nA  synapse Expon  output CUBA }',
      '                                               ^^^^^^^^^^^^^^^^^^^',
      '   = note: a relative path starts from the folder of the .spk file that names it',
      '',
    ].join('\n');
    for (const argv of [
      ['check', spk],
      ['run', spk, '--backend', 'cpu', '-o', join(dir, 'out')],
      ['compile', spk, '--target', 'js', '-o', join(dir, 'js')],
      ['inspect', spk, '--stage', 'ir'],
    ]) {
      const r = await run(...argv);
      expect(r.stderr, argv[0]).toBe(located);
      expect(r.code, argv[0]).toBe(EXIT.modelError);
      expect(r.stdout, argv[0]).toBe('');
    }
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('run reports the bad lines of a connection file in the file, with carets and a note at from_file', async () => {
    const dir = pairsModel('pairs.csv', 'pre,post\n0,1\n1,200\n1,2,0.5\n');
    const r = await run('run', join(dir, 'pairs.spk'), '--backend', 'cpu', '-o', join(dir, 'out'));
    expect(r.code).toBe(EXIT.modelError);
    const csv = join(dir, 'pairs.csv');
    expect(r.stderr).toContain(
      [
        `${csv}:3:3: error: post index 200 is out of range: population B has 5 neurons`,
        '   1,200',
        '     ^^^ indices are 0 to 4',
        `${join(dir, 'pairs.spk')}:7:45: note: projection 'P' reads its connections from this file`,
      ].join('\n'),
    );
    expect(r.stderr).toContain(
      [
        `${csv}:4:4: error: this line has 3 fields; a connection file holds only 'pre,post' pairs`,
        '   1,2,0.5',
        '      ^^^^ an extra field',
      ].join('\n'),
    );
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('records a neuron state whose initial value is a bare 0 (dimensionless), which a synapse kicks', async () => {
    const file = join(TEMP_OUT, 'kicked.spk');
    writeFileSync(
      file,
      `neuron Kicked {
  parameters { tau = 20 ms   tau_e = 5 ms   E_e = 0 mV   E_l = -60 mV }
  state { V = -60 mV   ge = 0 }
  equations {
    dV/dt = (E_l - V + ge * (E_e - V)) / tau
    dge/dt = -ge / tau_e
  }
  spike when V > -50 mV
  reset { V = -60 mV }
}
synapse Kick { on_pre { post.ge += w } }
network Net {
  dt = 0.1 ms
  duration = 5 ms
  population S = SpikeTimes(1, indices = [0], times = [1 ms])
  population N = Kicked(2)
  projection P = S -> N { connect all_to_all   weight 0.5   synapse Kick }
  record N.ge
}
`,
    );
    const out = join(TEMP_OUT, 'kicked');
    const r = await run('run', file, '--backend', 'cpu', '-o', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(EXIT.ok);
    const rows = readFileSync(join(out, 'N.ge.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('t_ms,0,1');
    // The spike at 1 ms (step 10) arrives in step 11 (delivery, then integration: the row of
    // t = 1.2 ms shows the post-step state, decayed for one step).
    expect(rows[11]).toBe('1.1,0,0');
    for (const [row, steps] of [
      [12, 1],
      [13, 2],
    ] as const) {
      const [, a, b] = rows[row]!.split(',').map(Number);
      expect(a).toBeCloseTo(0.5 * Math.exp((-0.1 * steps) / 5), 6);
      expect(b).toBe(a);
    }
  });
});
