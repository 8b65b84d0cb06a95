#!/usr/bin/env node
// Entry point of the `metal-conductor` command: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';
register();
await import('./main.ts');
