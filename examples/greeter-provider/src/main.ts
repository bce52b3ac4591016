/**
 * Greeter provider: serves example:greeter/greet@0.1.0 to the components linked to it. Each link
 * picks its own greeting with the key `greeting` of its target config (default `Hello`), so the same
 * provider greets differently per caller. Start it on a host that allows file loading:
 *
 *   cirrus start provider HOST file://$PWD/examples/greeter-provider/src/main.ts greeter
 *   cirrus config put greeter-settings greeting=Hi
 *   cirrus link put client greeter example greeter --interface greet --target-config greeter-settings
 */
import { readFile } from 'node:fs/promises';
import { err, ok, runProvider } from '@cirrus/provider-sdk';
import type { InvocationContext } from '@cirrus/provider-sdk';

const wit = await readFile(new URL('../wit/greet.wit', import.meta.url), 'utf8');

function greeting(ctx: InvocationContext, name: string): string {
  return `${ctx.config['greeting'] ?? 'Hello'}, ${name}!`;
}

await runProvider({
  name: 'greeter-provider',
  wit,
  exports: {
    'example:greeter/greet@0.1.0': {
      greet: (ctx, name: string) => greeting(ctx, name),
      'checked-greet': (ctx, name: string) =>
        name === '' ? err('a name is required') : ok(greeting(ctx, name)),
    },
  },
});
