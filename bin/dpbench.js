#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// the `dpbench` bin: load tsx's ESM hooks, then the TypeScript CLI
import { register } from 'tsx/esm/api';
register();
await import('../src/cli.ts');
