#!/usr/bin/env node
import { processContext } from './context.ts';
import { main } from './main.ts';

const code = await main(process.argv.slice(2), processContext());
process.exitCode = code;
