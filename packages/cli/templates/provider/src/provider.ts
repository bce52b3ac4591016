/**
 * __NAME__: a capability provider serving example:__NAME__/greet@0.1.0 to the components linked to
 * it. Each link picks its greeting with the key `greeting` of its target config (default `Hello`), so
 * one provider greets each caller its own way. A host starts it as a process of its own and hands it
 * the lattice to connect to on stdin; see README.md.
 */
import { readFile } from 'node:fs/promises';
import { runProvider } from '@cirrus/provider-sdk';

const wit = await readFile(new URL('../wit/greet.wit', import.meta.url), 'utf8');

await runProvider({
  name: '__NAME__',
  wit,
  exports: {
    'example:__NAME__/greet@0.1.0': {
      greet: (ctx, name: string) => `${ctx.config['greeting'] ?? 'Hello'}, ${name}!`,
    },
  },
});
